"""Wake-ups: Redis carries "there is due work for (queue, tenant)"; Postgres is the queue.

Each (queue, tenant) pair has at most one pending wake-up, its *baton*: a Redis key
`ballast:wake:<queue>:<tenant>` holding the baton's id, and one RQ message carrying the same id. The key is
set (NX) before the message is pushed, so a burst of commits for one pair costs one SET each and one message
in all. The worker holding the baton claims that pair's due jobs one at a time (jobs.worker.run); before it
runs a long job or when its slice is used up it passes the baton on (a new message, the same key), so other
workers take the rest; when no due job is left it drops the key and looks once more.

A baton lost with a dying worker, a failed push or a flushed Redis is repaired by the scheduler: its
dispatch pass wakes every pair with due jobs that has no key (jobs.scheduler.dispatch). The key expires
(JOBS_WAKE_TTL_SECONDS) unless its holder refreshes it, so a dead holder's baton comes back by itself.
Round-robin between tenants falls out of RQ's FIFO order: each pair's baton queues behind the others'.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from ballast.lib import redis_client

logger = logging.getLogger(__name__)

RUN_WAKEUP = "ballast.jobs.worker.run.run_wakeup"
# Ballast keeps results and failures in Postgres; RQ need not keep its copies.
RQ_RESULT_TTL = 0
RQ_FAILURE_TTL = 24 * 3600
# Handlers have their own deadlines (jobs.worker.timeouts); RQ's is only a last resort.
MESSAGE_TIMEOUT = 6 * 3600

# A commit's wake-up: SET the baton key if absent (then the caller pushes its message); otherwise nudge the
# holder, which may be lingering on the pair's nudge list (jobs.worker.run). Refresh and delete only our own.
_WAKE_OR_NUDGE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
redis.call('RPUSH', KEYS[2], '1')
redis.call('LTRIM', KEYS[2], -16, -1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
"""
_REFRESH = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def key(queue: str, tenant_id: int) -> str:
    return f"ballast:wake:{queue}:{tenant_id}"


def nudge_key(queue: str, tenant_id: int) -> str:
    return f"ballast:nudge:{queue}:{tenant_id}"


def _ttl_ms() -> int:
    return int(settings.JOBS_WAKE_TTL_SECONDS * 1000)


@functools.cache
def _queue(name: str, connection: Redis) -> Queue:
    """The RQ queue on one client, built once per process (messages are JSON: Redis is data, never code)."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def rq_queue(name: str, purpose: redis_client.Purpose = "default") -> Queue:
    """The RQ queue that carries the wake-ups of Ballast's queue `name` (its name in Redis may differ:
    jobs.policy.rq_name)."""
    from ballast.jobs.policy import rq_name

    return _queue(rq_name(name), redis_client.client(purpose))


def redis_connection() -> Redis:
    """The process's Redis client (ballast.lib.redis_client: REDIS_DSN or Sentinel, with socket and connect
    timeouts)."""
    return redis_client.client()


def messages_waiting(queues: Iterable[str]) -> bool:
    """Whether any of these RQ queues has a message waiting (a worker should not linger then)."""
    with redis_connection().pipeline(transaction=False) as pipe:
        for name in queues:
            pipe.llen(rq_queue(name).key)
        return any(int(length) for length in pipe.execute())


def _message(queue: str, tenant_id: int, baton: str, at_front: bool) -> Any:
    return Queue.prepare_data(
        RUN_WAKEUP,
        args=({"queue": queue, "tenant_id": tenant_id, "baton": baton},),
        timeout=MESSAGE_TIMEOUT,
        result_ttl=RQ_RESULT_TTL,
        failure_ttl=RQ_FAILURE_TTL,
        at_front=at_front,
        description=f"ballast wake-up queue={queue} tenant={tenant_id}",
    )


def _push_messages(datas: list[tuple[str, Any]], purpose: redis_client.Purpose = "default") -> None:
    by_queue: dict[str, list[Any]] = {}
    for queue, data in datas:
        by_queue.setdefault(queue, []).append(data)
    for queue, items in by_queue.items():
        rq = rq_queue(queue, purpose)
        with rq.connection.pipeline() as pipe:
            rq.enqueue_many(items, pipeline=pipe)
            pipe.execute()


def wake(pairs: Iterable[tuple[str, int]], *, at_front: bool = False, purpose: redis_client.Purpose = "default") -> int:
    """Give each pair a baton unless it has one. Returns the number of messages pushed.

    Never call inside a transaction that has not committed: a worker could look for rows it cannot see yet.
    Pairs of a queue that no RQ worker serves (jobs.policy.SCHEDULER_QUEUES) are left out.
    `purpose="request"`: the short-timeout client of the request path (ballast.lib.redis_client)."""
    from ballast.jobs.policy import QUEUE_ORDER

    wanted = [pair for pair in dict.fromkeys(pairs) if pair[0] in QUEUE_ORDER]
    if not wanted:
        return 0
    redis = redis_client.client(purpose)
    batons = {pair: uuid.uuid4().hex for pair in wanted}
    with redis.pipeline(transaction=False) as pipe:
        for (queue, tenant_id), baton in batons.items():
            pipe.eval(_WAKE_OR_NUDGE, 2, key(queue, tenant_id), nudge_key(queue, tenant_id), baton, _ttl_ms())
        created = [bool(result) for result in pipe.execute()]
    datas = [
        (queue, _message(queue, tenant_id, batons[(queue, tenant_id)], at_front))
        for (queue, tenant_id), new in zip(batons, created, strict=True)
        if new
    ]
    if datas:
        try:
            _push_messages(datas, purpose)
        except Exception:
            # No message, so no baton: free the keys for the scheduler's next pass.
            with redis.pipeline(transaction=False) as pipe:
                for (queue, tenant_id), new in zip(batons, created, strict=True):
                    if new:
                        pipe.eval(_RELEASE, 1, key(queue, tenant_id), batons[(queue, tenant_id)])
                pipe.execute()
            raise
    return len(datas)


@dataclass
class Baton:
    """The wake-up a worker holds for one (queue, tenant)."""

    queue: str
    tenant_id: int
    baton: str
    passed: bool = False
    # The worker and its heartbeat thread may both pass the baton on; only one message may follow.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def key(self) -> str:
        return key(self.queue, self.tenant_id)

    def refresh(self) -> bool:
        """Keep the key alive while working; False when it is no longer ours (expired and taken over)."""
        return bool(redis_connection().eval(_REFRESH, 1, self.key, self.baton, _ttl_ms()))

    def pass_on(self) -> None:
        """Hand the pair to whichever worker is free next (a new message under the same key). Idempotent."""
        with self._lock:
            if self.passed:
                return
            self.passed = True
        if self.refresh():
            _push_messages([(self.queue, _message(self.queue, self.tenant_id, self.baton, False))])

    def hold_for(self, seconds: float) -> None:
        """Keep the key, without a message, for `seconds` (a full rate limit): commits then only nudge, and the
        scheduler wakes the pair once the key lapses."""
        self.passed = True
        redis_connection().pexpire(self.key, max(1, int(seconds * 1000)))

    def await_nudge(self, seconds: float) -> bool:
        """Linger as the pair's holder: True when a commit nudged it within `seconds` (then claim again)."""
        if self.passed:
            return False
        redis = redis_connection()
        if redis.blpop([nudge_key(self.queue, self.tenant_id)], timeout=seconds) is None:
            return False
        redis.delete(nudge_key(self.queue, self.tenant_id))  # the claim that follows sees every earlier commit
        return True

    def release(self) -> None:
        """No due job is left: drop the key, so that the next commit wakes the pair again."""
        if not self.passed:
            redis_connection().eval(_RELEASE, 1, self.key, self.baton)


def _send(pairs: dict[tuple[str, int], bool]) -> None:
    """Wake committed pairs (urgent ones at the front). Never raises: the jobs are committed, and a wake-up
    Redis did not take is the scheduler's to repair (its next dispatch pass)."""
    breaker = redis_client.REQUEST_BREAKER
    if breaker.is_open():  # Redis failed a moment ago: do not wait for it again
        logger.info("redis skipped after a failure; the scheduler will wake %d queue(s)", len(pairs))
        return
    front = [pair for pair, urgent in pairs.items() if urgent]
    rest = [pair for pair, urgent in pairs.items() if not urgent]
    try:
        if front:
            wake(front, at_front=True, purpose="request")
        if rest:
            wake(rest, purpose="request")
    except Exception as exc:
        if isinstance(exc, redis_client.REDIS_DOWN):
            breaker.trip(exc)
        logger.warning(
            "wake-up after commit failed (%s: %s); the scheduler will wake %d queue(s)",
            type(exc).__name__,
            exc,
            len(pairs),
        )


class _Sender:
    """The process's wake-up sender (JOBS_WAKE_IN_BACKGROUND): commits hand it their pairs and return at once;
    a thread of its own sends them, and the pairs of every commit that lands while it waits on Redis go in its
    next round together. A commit's caller thus never waits on Redis, and a burst of commits costs a round trip
    per round, not per commit. Pairs still held when the process dies are the scheduler's to wake (dispatch)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pairs: dict[tuple[str, int], bool] = {}
        self._sending = False
        self._thread: threading.Thread | None = None

    def add(self, pairs: dict[tuple[str, int], bool]) -> None:
        with self._cond:
            for pair, urgent in pairs.items():
                self._pairs[pair] = self._pairs.get(pair, False) or urgent
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ballast-wakeups", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every pair handed over so far has been sent; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pairs and not self._sending, timeout=timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pairs))
                pairs, self._pairs = self._pairs, {}
                self._sending = True
            try:
                _send(pairs)
            finally:
                with self._cond:
                    self._sending = False
                    self._cond.notify_all()

    def _after_fork(self) -> None:
        """A forked child has no sender thread, and its parent's pairs are the parent's to send."""
        self._cond = threading.Condition()
        self._pairs = {}
        self._sending = False
        self._thread = None


_SENDER = _Sender()
os.register_at_fork(after_in_child=_SENDER._after_fork)
atexit.register(_SENDER.flush, 1.0)


def flush(timeout: float = 5.0) -> bool:
    """Wait until the wake-ups of the commits so far have been sent (JOBS_WAKE_IN_BACKGROUND); False on timeout."""
    return _SENDER.flush(timeout)


class _WakeAfterCommit:
    """One on_commit callback per transaction wakes every pair it enqueued for: hands them to the process's
    sender (JOBS_WAKE_IN_BACKGROUND), or sends them itself. Never raises."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, int], bool] = {}

    def __call__(self) -> None:
        if settings.JOBS_WAKE_IN_BACKGROUND:
            _SENDER.add(self.pairs)
        else:
            _send(self.pairs)


def wake_after_commit(queue: str, tenant_id: int, *, urgent: bool = False, using: str = "default") -> None:
    """Wake (queue, tenant) once the current transaction commits; coalesced per transaction and pair.
    `urgent` puts a new baton at the front of the RQ queue (jobs above the default priority)."""
    connection = connections[using]
    if not connection.in_atomic_block and connection.get_autocommit():
        # No transaction: its statement has committed already (on_commit would run at once, before the pair).
        now = _WakeAfterCommit()
        now.pairs[(queue, tenant_id)] = urgent
        now()
        return
    pending: _WakeAfterCommit | None = getattr(connection, "_ballast_wake", None)
    registered = pending is not None and any(item[1] is pending for item in connection.run_on_commit)
    if not registered or pending is None:
        pending = _WakeAfterCommit()
        connection._ballast_wake = pending  # type: ignore[attr-defined]
        transaction.on_commit(pending, using=using)
    pair = (queue, tenant_id)
    pending.pairs[pair] = pending.pairs.get(pair, False) or urgent
