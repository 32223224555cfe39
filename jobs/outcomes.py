"""How an attempt ends: success, retry with backoff, dead letter, cancellation. Each is fenced by the lease."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from jobs.backoff import full_jitter
from jobs.claims import ClaimedJob
from jobs.models import DeadLetter
from jobs.registry import HandlerSpec
from jobs.states import JobStatus as S
from jobs.transitions import CLEAR_LEASE, NOW, transition
from tenants.audit import SYSTEM_ACTOR, record_many

MAX_ERROR_CHARS = 4000


class ResultTooLarge(ValueError):
    pass


def encode_result(result: Any) -> str:
    """JSON text of a handler's result, bounded by JOBS_MAX_RESULT_BYTES."""
    encoded = json.dumps(result, default=str)
    if len(encoded.encode()) > settings.JOBS_MAX_RESULT_BYTES:
        raise ResultTooLarge(
            f"Result is {len(encoded.encode())} bytes; JOBS_MAX_RESULT_BYTES is {settings.JOBS_MAX_RESULT_BYTES}"
        )
    return encoded


def succeed(job: ClaimedJob, encoded_result: str, *, using: str = "default") -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET status = 'succeeded', result = %s::jsonb, finished_at = clock_timestamp(), "
            "updated_at = clock_timestamp(), "
            "lease_token = NULL, lease_expires_at = NULL, last_error = '' "
            "WHERE id = %s AND status = 'running' AND lease_token = %s",
            [encoded_result, job.id, job.lease_token],
        )
        return cursor.rowcount == 1


def retry_later(job: ClaimedJob, error: str, spec: HandlerSpec | None, *, using: str = "default") -> bool:
    base = spec.backoff_base if spec else 2.0
    cap = spec.backoff_cap if spec else 600.0
    delay = full_jitter(job.attempt, base=base, cap=cap)
    return transition(
        job.id,
        current=S.RUNNING,
        target=S.QUEUED,
        fence=job.lease_token,
        values={
            **CLEAR_LEASE,
            "available_at": timezone.now() + timedelta(seconds=delay),
            "dispatched_at": None,
            "last_error": error[:MAX_ERROR_CHARS],
        },
        using=using,
    )


def dead_letter(job: ClaimedJob, *, reason: str, error: str, actor: str = SYSTEM_ACTOR, using: str = "default") -> bool:
    """running → dlq_pending → dlq_recorded → failed, with a DeadLetter row and an audit row for each step.
    Must run inside one transaction (the caller's)."""
    error = error[:MAX_ERROR_CHARS]
    if not transition(
        job.id,
        current=S.RUNNING,
        target=S.DLQ_PENDING,
        fence=job.lease_token,
        values={"last_error": error},
        using=using,
    ):
        return False
    dead = DeadLetter.objects.unscoped(using).create(
        tenant_id=job.tenant_id, job_id=job.id, job_type=job.job_type, reason=reason, error=error, attempts=job.attempt
    )
    transition(job.id, current=S.DLQ_PENDING, target=S.DLQ_RECORDED, using=using)
    transition(job.id, current=S.DLQ_RECORDED, target=S.FAILED, values={**CLEAR_LEASE, "finished_at": NOW}, using=using)
    common = {"tenant_id": job.tenant_id, "actor": actor, "target_type": "job", "target_id": str(job.id)}
    record_many(
        [
            {**common, "action": "job.dlq_pending", "trace_id": job.trace_id, "data": {"reason": reason}},
            {**common, "action": "job.dlq_recorded", "trace_id": job.trace_id, "data": {"dead_letter_id": dead.pk}},
            {**common, "action": "job.failed", "trace_id": job.trace_id, "data": {"attempts": job.attempt}},
        ],
        using=using,
    )
    return True


def fail(job: ClaimedJob, error: str, spec: HandlerSpec | None, *, permanent: bool, using: str = "default") -> str:
    """Retry if attempts are left and the error is not permanent; else dead-letter. The outcome's name,
    or '' when the lease was lost."""
    if not permanent and job.attempt < job.max_attempts:
        return "retry" if retry_later(job, error, spec, using=using) else ""
    reason = DeadLetter.Reason.PERMANENT if permanent else DeadLetter.Reason.EXHAUSTED
    return "dead_letter" if dead_letter(job, reason=reason, error=error, using=using) else ""


def cancel_running(job: ClaimedJob, *, using: str = "default") -> bool:
    return transition(
        job.id,
        current=S.RUNNING,
        target=S.CANCELLED,
        fence=job.lease_token,
        values={**CLEAR_LEASE, "finished_at": NOW},
        using=using,
    )
