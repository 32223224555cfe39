"""What may start now: shared rate limits (Redis) and per-type concurrency caps (Postgres).

Both are applied around the claim of one job, so nothing is spent on a job that was not claimed:
- a rate token is taken before the claim and given back when the claim found nothing;
- a job of a capped type is claimed, then counted under the type's advisory lock; one over the cap goes
  back to the queue without its attempt being charged, and the type is left out of the next claims.
"""

from __future__ import annotations

import time

from django.db import connections, transaction

from ballast.jobs import policy, sql
from ballast.jobs.registry import UnknownJobType, get_handler
from ballast.jobs.wakeups import redis_connection
from ballast.jobs.worker.claim import ClaimedJob
from ballast.jobs.worker.complete import release_unstarted

SYSTEM = "system"
CAP_RETRY_SECONDS = 1.0

# Either every limit has room and each is counted, or none is touched: returns the index of a full one.
_RATE_LUA = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, 120)
end
return 0
"""
_REFUND_LUA = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


def _keys(limits: list[policy.RateLimit], window: int) -> list[str]:
    return [f"ballast:rate:{limit.key}:{window}" for limit in limits]


class RateTokens:
    """Tokens taken for one claim; `refund()` when the claim found nothing."""

    def __init__(self, limits: list[policy.RateLimit]) -> None:
        self.limits = limits
        self.window = int(time.time() // 60)
        self.taken = False

    def take(self) -> float:
        """0 when a job may start now (a token of each limit is taken), else the seconds until the current
        one-minute window ends."""
        if not self.limits:
            return 0.0
        now = time.time()
        self.window = int(now // 60)
        keys = _keys(self.limits, self.window)
        full = redis_connection().eval(_RATE_LUA, len(keys), *keys, *[limit.per_minute for limit in self.limits])
        self.taken = int(full) == 0
        return 0.0 if self.taken else (self.window + 1) * 60 - now

    def refund(self) -> None:
        if self.taken:
            keys = _keys(self.limits, self.window)
            redis_connection().eval(_REFUND_LUA, len(keys), *keys)
            self.taken = False


def take_rate_tokens(limits: list[policy.RateLimit]) -> float:
    return RateTokens(limits).take()


def cap_of(job_type: str) -> int | None:
    try:
        return get_handler(job_type).concurrency
    except UnknownJobType:
        return None


def within_cap(job: ClaimedJob) -> bool:
    """For a job of a capped type, just claimed: True if it may run. Otherwise it goes back to the queue
    (running → queued, the attempt not counted, available again after CAP_RETRY_SECONDS)."""
    cap = cap_of(job.job_type)
    if cap is None:
        return True
    with transaction.atomic(using=SYSTEM), connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ballast.jobs.cap:{job.job_type}"])
        cursor.execute(sql.RUNNING_OF_TYPE, {"job_type": job.job_type})
        row = cursor.fetchone()
        if row is not None and row[0] <= cap:
            return True
        release_unstarted(job, delay=CAP_RETRY_SECONDS, using=SYSTEM)
    return False


def admit(job: ClaimedJob) -> bool:
    """For a job claimed outside a worker's loop (queue/process, run-now): a token of each of its rate limits,
    then its type's concurrency cap. False: it went back to the queue, its attempt not charged."""
    tokens = RateTokens(policy.rate_limits(job.queue, job.tenant_id))
    if tokens.take():
        release_unstarted(job)
        return False
    if not within_cap(job):
        tokens.refund()
        return False
    return True
