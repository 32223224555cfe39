"""The Redis clients Ballast makes, from one factory: REDIS_DSN, or the primary that REDIS_SENTINELS name.

Nothing else builds a Redis client. Purposes, each a client (and connection pool) of its own per process:
- "default": wake-ups, batons, admission counters, the scheduler, the ops console (REDIS_SOCKET_TIMEOUT);
- "request": what a web request touches on its way, the API throttle, idempotency counts and the
  after-commit wake-up (REDIS_REQUEST_TIMEOUT, short); callers guard it with `REQUEST_BREAKER`;
- "worker": the RQ worker's own connection, whose socket timeout RQ raises above its blocking dequeue.

Through Sentinel a client asks the sentinels for the primary on each new connection, so after a failover the
next command reconnects to the promoted replica (a write that reaches a demoted primary drops the connection).
Values read from Redis are integers, strings and JSON: nothing here unpickles.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import unquote, urlsplit

import redis.exceptions
from django.conf import settings
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

logger = logging.getLogger(__name__)

Purpose = Literal["default", "request", "worker"]

# What "Redis is down or hung" looks like to a client (a demoted primary's READONLY becomes a ConnectionError
# under Sentinel).
REDIS_DOWN: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclass(frozen=True)
class Target:
    url: str
    sentinels: tuple[tuple[str, int], ...]
    master: str
    socket_timeout: float
    connect_timeout: float
    request_timeout: float


def target() -> Target:
    """Where Redis is, as the settings say now (tests may point them at a private server)."""
    return Target(
        url=settings.REDIS_DSN,
        sentinels=tuple((str(host), int(port)) for host, port in settings.REDIS_SENTINELS),
        master=settings.REDIS_SENTINEL_MASTER,
        socket_timeout=float(settings.REDIS_SOCKET_TIMEOUT),
        connect_timeout=float(settings.REDIS_CONNECT_TIMEOUT),
        request_timeout=float(settings.REDIS_REQUEST_TIMEOUT),
    )


def client(purpose: Purpose = "default") -> Redis:
    """The process's Redis client for `purpose` (built once per purpose and target)."""
    return _client(purpose, target())


def probe(timeout: float) -> Redis:
    """A new client that tries once and waits at most `timeout` (checks such as preflight); close it after use."""
    where = target()
    return _build("request", replace(where, request_timeout=timeout, connect_timeout=timeout))


def describe() -> str:
    """Where Redis is, for messages: host:port, or the Sentinel master and its sentinels."""
    where = target()
    if where.sentinels:
        sentinels = ",".join(f"{host}:{port}" for host, port in where.sentinels)
        return f"Sentinel master {where.master!r} (sentinels {sentinels})"
    parts = urlsplit(where.url)
    return f"{parts.hostname}:{parts.port or 6379}"


@functools.cache
def _client(purpose: Purpose, where: Target) -> Redis:
    return _build(purpose, where)


def _build(purpose: Purpose, where: Target) -> Redis:
    request = purpose == "request"
    timeout = where.request_timeout if request else where.socket_timeout
    connect = min(where.connect_timeout, timeout) if request else where.connect_timeout
    # The request path tries once (redis-py's default retries would multiply the timeout); the others keep
    # redis-py's short retries, which also carry a command across a Sentinel failover.
    retry: dict[str, Retry] = {"retry": Retry(NoBackoff(), 0)} if request else {}
    if where.sentinels:
        parts = urlsplit(where.url)
        sentinel = Sentinel(
            list(where.sentinels),
            sentinel_kwargs={"socket_timeout": connect, "socket_connect_timeout": connect},
            socket_timeout=timeout,
            socket_connect_timeout=connect,
            health_check_interval=30,
            **retry,
        )
        return sentinel.master_for(
            where.master,
            db=int(parts.path.strip("/") or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    connection = Redis.from_url(
        where.url, socket_timeout=timeout, socket_connect_timeout=connect, health_check_interval=30, **retry
    )
    if request:  # short even when the DSN sets its own timeouts
        connection.connection_pool.connection_kwargs.update(socket_timeout=timeout, socket_connect_timeout=connect)
    return connection


class Breaker:
    """Fail fast after a failure: for REDIS_FAIL_OPEN_SECONDS callers skip Redis, so a hung Redis costs one
    request the short timeout, not every request. Process-local; thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._open_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, error: BaseException) -> None:
        with self._lock:
            first = not self.is_open()
            self._open_until = time.monotonic() + float(settings.REDIS_FAIL_OPEN_SECONDS)
        if first:
            logger.warning(
                "redis unreachable (%s: %s): %s skips Redis for %ss",
                type(error).__name__,
                error,
                self.name,
                settings.REDIS_FAIL_OPEN_SECONDS,
            )

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


REQUEST_BREAKER = Breaker("request path")
