"""What may start now: shared rate limits (Redis) and per-type concurrency caps (Postgres).

A job held back stays queued: it gets a new available_at and no message, so the scheduler pushes it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connections, transaction
from django.utils import timezone

from jobs import messages, policy

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


def take_rate_tokens(limits: list[policy.RateLimit]) -> float:
    """0 when the job may start now, else the seconds until the current one-minute window ends."""
    if not limits:
        return 0.0
    now = time.time()
    window = int(now // 60)
    redis = messages.redis_connection()
    keys = [f"ballast:rate:{limit.key}:{window}" for limit in limits]
    full = redis.eval(_RATE_LUA, len(keys), *keys, *[limit.per_minute for limit in limits])
    return 0.0 if int(full) == 0 else (window + 1) * 60 - now


@contextmanager
def concurrency_slots(job_type: str, cap: int | None) -> Iterator[int | None]:
    """How many more jobs of the type may start (None: no cap). Claims made inside the block are serialised
    with every other claimer of the type by a transaction-scoped advisory lock on the system connection."""
    if cap is None:
        yield None
        return
    with transaction.atomic(using=SYSTEM), connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ballast.jobs.cap:{job_type}"])
        cursor.execute("SELECT count(*) FROM jobs_job WHERE job_type = %s AND status = 'running'", [job_type])
        running = cursor.fetchone()[0]
        yield max(0, cap - running)


def defer(job_ids: list[int], seconds: float) -> None:
    """Hold queued jobs back; the scheduler pushes them once `seconds` have passed."""
    if not job_ids:
        return
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET available_at = %s, dispatched_at = NULL, updated_at = now() "
            "WHERE id = ANY(%s) AND status = 'queued'",
            [timezone.now() + timedelta(seconds=seconds), job_ids],
        )
