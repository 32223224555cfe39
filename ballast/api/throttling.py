"""Abuse limits: request rates per API token, per tenant, and for queue/process, shared by every web process.

Each check is one Lua script in Redis (a sliding window on a sorted set, timed by Redis's own clock), so
concurrent requests cannot overshoot: N/min admits exactly N in any minute, wherever they land. The stored
values are timestamps (scores) and random ids: nothing read back is unpickled.

A client over a limit gets 429 with an integer Retry-After >= 1; the idempotency layer does not store a 429, so
the same key may be retried once the window allows. Rates: API_RATE_PER_TOKEN, API_RATE_PER_TENANT,
QUEUE_PROCESS_RATE (e.g. "600/min"); empty disables one. Callers without a token (queue/process with the
secret) are counted by address: REMOTE_ADDR, or the address the trusted proxy appended to X-Forwarded-For
when TRUSTED_PROXY is on (DRF's NUM_PROXIES).

Fails open: when Redis is down, hung (REDIS_REQUEST_TIMEOUT) or answers an error, the request goes through,
a warning is logged and `ballast_throttle_fail_open_total` counts it; for REDIS_FAIL_OPEN_SECONDS afterwards
the throttles skip Redis (ballast.lib.redis_client.REQUEST_BREAKER). An abuse limit is not a security boundary.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import uuid
from typing import Any

import redis.exceptions
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ballast.lib import metrics, redis_client
from ballast.tenants.models import ApiToken

logger = logging.getLogger(__name__)

KEY_PREFIX = "ballast:throttle:"

# KEYS[1]: the window; ARGV: window (ms), limit, a unique member. Returns 0 when admitted, else the wait (ms)
# until the oldest admitted request leaves the window.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class _FailOpenCounter:
    """Throttle checks let through because Redis failed, in this process (exported on /metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def increment(self) -> None:
        with self._lock:
            self._value += 1
        metrics.throttle_failed_open()

    @property
    def value(self) -> int:
        return self._value


FAIL_OPEN = _FailOpenCounter()


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^(?P<count>[0-9]+)/(?P<times>[0-9]*)(?P<unit>[smhd])[a-z]*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """'N/period' as (N, seconds), as DRF reads it ("600/min", "10/s"), or with a multiple ("5/15min")."""
    match = _RATE.match(rate.strip())
    if match is None:
        raise ValueError(f"A rate is 'N/period' ('600/min', '10/s', '5/15min'), not {rate!r}")
    return int(match["count"]), int(match["times"] or 1) * _PERIODS[match["unit"]]


def _failed_open(key: str, exc: redis.exceptions.RedisError) -> None:
    if isinstance(exc, redis_client.REDIS_DOWN):
        redis_client.REQUEST_BREAKER.trip(exc)
    FAIL_OPEN.increment()
    logger.warning("throttle %s failed open: %s: %s", key, type(exc).__name__, exc)


def hit(key: str, rate: str) -> float | None:
    """Count one request under `key`: None when admitted (or failed open), else the seconds to wait."""
    breaker = redis_client.REQUEST_BREAKER
    if breaker.is_open():
        FAIL_OPEN.increment()
        return None
    limit, seconds = parse_rate(rate)
    try:
        wait_ms = int(
            redis_client.client("request").eval(_SLIDING_WINDOW, 1, key, seconds * 1000, limit, uuid.uuid4().hex)
        )
    except redis.exceptions.RedisError as exc:
        _failed_open(key, exc)
        return None
    return wait_ms / 1000 if wait_ms else None


def block(key: str, seconds: float) -> None:
    """Refuse `key` for `seconds` (see blocked_for). Fails open: when Redis fails, nothing is blocked."""
    if redis_client.REQUEST_BREAKER.is_open():
        FAIL_OPEN.increment()
        return
    try:
        redis_client.client("request").set(key, "1", px=max(1, int(seconds * 1000)))
    except redis.exceptions.RedisError as exc:
        _failed_open(key, exc)


def blocked_for(key: str) -> float | None:
    """The seconds left on a block of `key`, or None (also when Redis fails: the request goes through)."""
    if redis_client.REQUEST_BREAKER.is_open():
        FAIL_OPEN.increment()
        return None
    try:
        left_ms = int(redis_client.client("request").pttl(key))
    except redis.exceptions.RedisError as exc:
        _failed_open(key, exc)
        return None
    return left_ms / 1000 if left_ms > 0 else None


def client_address(request: Any) -> str:
    """The caller's address as every throttle counts it (REMOTE_ADDR, or the trusted proxy's X-Forwarded-For)."""
    return str(BaseThrottle().get_ident(request) or "unknown")


class _RateThrottle(BaseThrottle):
    setting = ""
    scope = ""  # the label of ballast_throttled_requests_total

    def __init__(self) -> None:
        self._wait: float | None = None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = str(getattr(settings, self.setting, "") or "")
        key = self.get_cache_key(request, view) if rate else None
        if key is None:
            return True
        self._wait = hit(key, rate)
        if self._wait is not None:
            metrics.throttled(self.scope)
        return self._wait is None

    def wait(self) -> float | None:
        return None if self._wait is None else max(1, math.ceil(self._wait))


class TokenRateThrottle(_RateThrottle):
    setting = "API_RATE_PER_TOKEN"
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        return f"{KEY_PREFIX}token:{token.pk}" if isinstance(token, ApiToken) else None


class TenantRateThrottle(_RateThrottle):
    setting = "API_RATE_PER_TENANT"
    scope = "tenant"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        return f"{KEY_PREFIX}tenant:{token.tenant_id}" if isinstance(token, ApiToken) else None


class QueueProcessThrottle(_RateThrottle):
    """queue/process runs jobs inside a web request: few calls a minute, whoever calls (token or secret)."""

    setting = "QUEUE_PROCESS_RATE"
    scope = "queue_process"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        who = f"tenant:{token.tenant_id}" if isinstance(token, ApiToken) else f"ip:{self.get_ident(request)}"
        return f"{KEY_PREFIX}queue_process:{who}"
