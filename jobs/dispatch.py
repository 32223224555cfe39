"""The scheduler's dispatch passes: Postgres decides what runs, Redis only carries the messages.

- due jobs without a message (scheduled, retries after backoff, pushes that failed) are pushed, a batch
  per tenant and pass, so every tenant with due work gets a message each pass;
- when Redis lost its data (flushed, restarted) every queued job is pushed again;
- a due job whose message is old while its RQ queue is empty lost its message: it is pushed again;
- fairness: when several tenants wait in one queue, each one's oldest due job goes to the queue's front,
  so one tenant's backlog of 100,000 cannot starve another tenant's single job.
Duplicate messages are harmless: claims are conditional.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from jobs import messages
from jobs.policy import QUEUE_ORDER
from jobs.registry import UnknownJobType, get_handler

SYSTEM = "system"
EPOCH_KEY = "ballast:jobs:epoch"


@dataclass
class DispatchReport:
    pushed_jobs: int = 0
    messages: int = 0
    redispatched: int = 0
    promoted: int = 0
    redis_reset: bool = False


def _entries(rows: list[tuple[Any, ...]]) -> list[messages.Entry]:
    entries = []
    for job_id, tenant_id, queue, job_type, trace_id, attempts in rows:
        try:
            timeout = get_handler(job_type).timeout
        except UnknownJobType:
            timeout = 60.0
        entries.append(messages.Entry(job_id, tenant_id, queue, job_type, trace_id, attempts + 1, timeout))
    return entries


def check_redis_epoch() -> bool:
    """True when Redis has lost its data since the last pass (or on first start): every queued job is then
    marked undispatched, and the next dispatch pass pushes it again."""
    redis = messages.redis_connection()
    if not redis.set(EPOCH_KEY, uuid.uuid4().hex, nx=True):
        return False
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("UPDATE jobs_job SET dispatched_at = NULL WHERE status = 'queued' AND dispatched_at IS NOT NULL")
    return True


def dispatch_due(*, per_tenant: int | None = None) -> tuple[int, int]:
    """Push due jobs that have no message, up to `per_tenant` per tenant. (jobs pushed, messages sent)."""
    per_tenant = per_tenant or settings.JOBS_BATCH_SIZE
    with transaction.atomic(using=SYSTEM):
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                "WITH due AS ("
                "  SELECT j.id FROM tenants_tenant t CROSS JOIN LATERAL ("
                "    SELECT id FROM jobs_job WHERE tenant_id = t.id AND status = 'queued' "
                "    AND dispatched_at IS NULL AND available_at <= now() "
                "    ORDER BY priority DESC, available_at LIMIT %s FOR UPDATE SKIP LOCKED) j "
                "  WHERE t.status = 'active') "
                "UPDATE jobs_job SET dispatched_at = now() FROM due WHERE jobs_job.id = due.id "
                "RETURNING jobs_job.id, tenant_id, queue, job_type, trace_id, attempts",
                [per_tenant],
            )
            rows = cursor.fetchall()
        entries = _entries(rows)
        # Pushed before commit on purpose: if Redis fails, the rollback leaves the jobs undispatched.
        # The rows themselves are committed; a worker that is quicker than this commit waits on the row lock.
        sent = messages.push(entries) if entries else 0
    return len(entries), sent


def redispatch_lost() -> int:
    """Jobs whose message should long have been taken while their queue is empty: mark them undispatched."""
    empty = [name for name in QUEUE_ORDER if messages.queue_length(name) == 0]
    if not empty:
        return 0
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET dispatched_at = NULL WHERE status = 'queued' AND queue = ANY(%s) "
            "AND available_at <= now() AND dispatched_at < now() - make_interval(secs => %s)",
            [empty, settings.JOBS_REDISPATCH_AFTER_SECONDS],
        )
        return cursor.rowcount


def promote_waiting_tenants() -> int:
    """Where two or more tenants wait in a queue, push each one's oldest due job to the front."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            "SELECT j.id, t.id, j.queue, j.job_type, j.trace_id, j.attempts "
            "FROM tenants_tenant t CROSS JOIN LATERAL ("
            "  SELECT id, queue, job_type, trace_id, attempts FROM jobs_job WHERE tenant_id = t.id "
            "  AND status = 'queued' AND available_at <= now() "
            "  AND dispatched_at < now() - make_interval(secs => %s) "
            "  ORDER BY priority DESC, available_at LIMIT 1) j WHERE t.status = 'active'",
            [settings.JOBS_FAIRNESS_AFTER_SECONDS],
        )
        rows = cursor.fetchall()
    by_queue: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_queue[row[2]].append(row)
    chosen = [row for group in by_queue.values() if len(group) > 1 for row in group]
    if not chosen:
        return 0
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("UPDATE jobs_job SET dispatched_at = now() WHERE id = ANY(%s)", [[row[0] for row in chosen]])
    messages.push(_entries(chosen), at_front=True)
    return len(chosen)


def dispatch_pass(*, max_rounds: int = 20) -> DispatchReport:
    report = DispatchReport()
    report.redis_reset = check_redis_epoch()
    report.redispatched = redispatch_lost()
    for _ in range(max_rounds):
        pushed, sent = dispatch_due()
        report.pushed_jobs += pushed
        report.messages += sent
        if pushed == 0:
            break
    report.promoted = promote_waiting_tenants()
    return report
