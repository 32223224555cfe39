"""How an attempt ends: success, retry with backoff, dead letter, cancellation, or a lost lease.

Success is written in the handler's own transaction (its writes and the acknowledgement commit together).
Every other ending is written in a short transaction of its own, after the handler's was rolled back. Each
write is fenced by the lease; each writes the attempt row and the job's outbox event with it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from ballast.jobs import sql
from ballast.jobs.events import outcome_event
from ballast.jobs.models import DeadLetter, JobAttempt
from ballast.jobs.registry import HandlerSpec
from ballast.jobs.states import JobStatus as S
from ballast.jobs.transitions import CLEAR_LEASE, NOW, Sql, after, succeed, transition
from ballast.jobs.worker import telemetry
from ballast.jobs.worker.claim import ClaimedJob, NextClaim, claimed_or_none
from ballast.jobs.worker.context import LeaseLost, fence
from ballast.lib.retry import full_jitter
from ballast.outbox.services import NewEvent, insert_events
from ballast.tenants.audit import SYSTEM_ACTOR, record_many
from ballast.tenants.context import tenant_scope

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ERROR_CHARS = 4000
# A failed write of an attempt's end is retried on a new connection after a pause doubling from the first to the
# cap (a restart takes ~0.5 s, a failover seconds), for up to JOBS_DATABASE_PATIENCE_SECONDS.
RETRY_FIRST_PAUSE = 0.2
RETRY_PAUSE_CAP = 2.0
Outcome = JobAttempt.Outcome


class ResultTooLarge(ValueError):
    pass


def clean_error(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Postgres text cannot hold NUL; bounded."""
    return text.replace("\x00", "\\x00")[:limit]


def encode_result(result: Any) -> str:
    """JSON text of a handler's result, bounded by JOBS_MAX_RESULT_BYTES."""
    encoded = json.dumps(result, default=str).replace("\\u0000", "")
    if len(encoded.encode()) > settings.JOBS_MAX_RESULT_BYTES:
        raise ResultTooLarge(
            f"Result is {len(encoded.encode())} bytes; JOBS_MAX_RESULT_BYTES is {settings.JOBS_MAX_RESULT_BYTES}"
        )
    return encoded


def _events(events: list[NewEvent | None], using: str) -> None:
    insert_events([event for event in events if event is not None], using=using)


def acknowledge(job: ClaimedJob, encoded_result: str, *, then: NextClaim | None = None) -> ClaimedJob | None:
    """Inside the handler's transaction: running → succeeded with its attempt row and job.succeeded, in one
    round trip, which also claims the job `then` asks for (returned). Raises LeaseLost (and so rolls the
    handler's writes back, the next claim with them) when the attempt was fenced out."""
    event = outcome_event(job, str(Outcome.SUCCEEDED))
    acknowledged, rest = succeed(
        job.id,
        token=job.lease_token,
        encoded_result=encoded_result,
        event=event,
        claim_next=then.params() if then else None,
        retention_at=job.retention_at,
    )
    if not acknowledged:
        raise LeaseLost(f"Job {job.id} attempt {job.attempt} lost its lease before acknowledging")
    return claimed_or_none(rest) if then else None


def release_unstarted(job: ClaimedJob, *, delay: float = 0.0, using: str = "system") -> bool:
    """A claimed job whose handler never started goes back to the queue (running → queued), its attempt not
    counted (no attempt is charged to a job that never started). False if it was no longer held."""
    return transition(
        job.id,
        current=S.RUNNING,
        target=S.QUEUED,
        fence=job.lease_token,
        retention_at=job.retention_at,
        values={**CLEAR_LEASE, "attempts": Sql("attempts - 1"), "available_at": after(delay)},
        using=using,
    )


def attempt_row(
    job: ClaimedJob, *, worker: str, outcome: str, error: str = "", error_class: str = "", trace: str = "", using: str
) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            sql.INSERT_ATTEMPT,
            {
                "tenant_id": job.tenant_id,
                "job_id": job.id,
                "attempt": job.attempt,
                "worker": worker,
                "started_at": job.started_at,
                "outcome": outcome,
                "error": clean_error(error),
                "error_class": error_class[:300],
                "traceback": clean_error(trace[-MAX_ERROR_CHARS:]),
            },
        )


def retry_later(job: ClaimedJob, error: str, spec: HandlerSpec | None, *, using: str) -> bool:
    delay = full_jitter(job.attempt, base=spec.backoff_base if spec else 2.0, cap=spec.backoff_cap if spec else 600.0)
    telemetry.note_retry(delay, error)
    return transition(
        job.id,
        current=S.RUNNING,
        target=S.QUEUED,
        fence=job.lease_token,
        retention_at=job.retention_at,
        values={**CLEAR_LEASE, "available_at": after(delay), "last_error": clean_error(error)},
        using=using,
    )


def dead_letter(
    job: ClaimedJob,
    *,
    reason: str,
    error: str,
    spec: HandlerSpec | None = None,
    actor: str = SYSTEM_ACTOR,
    using: str,
) -> bool:
    """running → dlq_pending → dlq_recorded → failed, with a DeadLetter row and an audit row for each step,
    and the type's on_dead_letter hook. Must run inside one transaction (the caller's)."""
    error = clean_error(error)
    telemetry.note_dead_letter(reason, error)
    if not transition(
        job.id,
        current=S.RUNNING,
        target=S.DLQ_PENDING,
        fence=job.lease_token,
        retention_at=job.retention_at,
        values={"last_error": error},
        using=using,
    ):
        return False
    dead = DeadLetter.objects.unscoped(using).create(
        tenant_id=job.tenant_id, job_id=job.id, job_type=job.job_type, reason=reason, error=error, attempts=job.attempt
    )
    transition(job.id, current=S.DLQ_PENDING, target=S.DLQ_RECORDED, retention_at=job.retention_at, using=using)
    transition(
        job.id,
        current=S.DLQ_RECORDED,
        target=S.FAILED,
        values={**CLEAR_LEASE, "finished_at": NOW},
        retention_at=job.retention_at,
        using=using,
    )
    common = {"tenant_id": job.tenant_id, "actor": actor, "target_type": "job", "target_id": str(job.id)}
    record_many(
        [
            {**common, "action": "job.dlq_pending", "trace_id": job.trace_id, "data": {"reason": reason}},
            {**common, "action": "job.dlq_recorded", "trace_id": job.trace_id, "data": {"dead_letter_id": dead.pk}},
            {**common, "action": "job.failed", "trace_id": job.trace_id, "data": {"attempts": job.attempt}},
        ],
        using=using,
    )
    if spec is not None and spec.on_dead_letter is not None:
        spec.on_dead_letter(tenant_id=job.tenant_id, payload=job.payload, error=error, using=using)
    return True


def cancel_running(job: ClaimedJob, *, using: str) -> bool:
    return transition(
        job.id,
        current=S.RUNNING,
        target=S.CANCELLED,
        fence=job.lease_token,
        retention_at=job.retention_at,
        values={**CLEAR_LEASE, "finished_at": NOW},
        using=using,
    )


def end_unsuccessfully(
    job: ClaimedJob,
    *,
    spec: HandlerSpec | None,
    error: str,
    cancel_requested: bool,
    permanent: bool = False,
    using: str,
    dead_letter_reason: str | None = None,
) -> str:
    """Cancelled (when a cancel was requested), retried (attempts left) or dead-lettered. The outcome's name,
    or '' when the lease was lost. Runs inside the caller's transaction."""
    if cancel_requested:
        return str(Outcome.CANCELLED) if cancel_running(job, using=using) else ""
    if not permanent and job.attempt < job.max_attempts:
        return "retry" if retry_later(job, error, spec, using=using) else ""
    reason = dead_letter_reason or (DeadLetter.Reason.PERMANENT if permanent else DeadLetter.Reason.EXHAUSTED)
    return "dead_letter" if dead_letter(job, reason=reason, error=error, spec=spec, using=using) else ""


def record_failure(
    job: ClaimedJob,
    *,
    spec: HandlerSpec | None,
    worker: str,
    error: str,
    error_class: str = "",
    trace: str = "",
    permanent: bool = False,
    cancelled: bool = False,
) -> str:
    """After the handler's transaction rolled back: how the attempt ends, in a short transaction of its own.
    A write that fails on the connection (Postgres restarted or failed over meanwhile) is retried on a fresh one
    until the database answers (for up to JOBS_DATABASE_PATIENCE_SECONDS); the lease fences a write that did
    commit."""
    return _on_fresh_connections(
        DEFAULT_DB_ALIAS,
        f"writing how job {job.id} ended",
        lambda: _record_failure(
            job,
            spec=spec,
            worker=worker,
            error=error,
            error_class=error_class,
            trace=trace,
            permanent=permanent,
            cancelled=cancelled,
        ),
    )


def release_unstarted_retrying(job: ClaimedJob) -> bool:
    """release_unstarted, retried on fresh connections like record_failure: a job whose handler never began
    because the database went away between its claim and its start goes back uncharged once it returns."""
    return _on_fresh_connections("system", f"giving back job {job.id}", lambda: release_unstarted(job))


def _on_fresh_connections(alias: str, what: str, write: Callable[[], T]) -> T:
    """Run `write`; a connection error (Postgres restarted or failed over meanwhile) is retried on a new connection
    after a growing pause, until JOBS_DATABASE_PATIENCE_SECONDS have passed. Never inside an open transaction,
    whose work is lost with the connection.

    The worker has nothing else to do while its database is away, and the sooner it writes how the attempt
    ended, the less is left to rescue: a new scheduler leader waits one lease before it rescues (jobs.scheduler),
    time for a worker that was cut off too to give back the job it never started."""
    give_up_at = time.monotonic() + float(settings.JOBS_DATABASE_PATIENCE_SECONDS)
    pause = RETRY_FIRST_PAUSE
    failures = 0
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            connection = connections[alias]
            if connection.in_atomic_block or time.monotonic() + pause > give_up_at:
                raise
            failures += 1
            if failures == 1:
                logger.warning("%s failed; retrying on new connections", what, exc_info=True)
            connection.close()
            time.sleep(pause)
            pause = min(RETRY_PAUSE_CAP, pause * 2)


def _record_failure(
    job: ClaimedJob,
    *,
    spec: HandlerSpec | None,
    worker: str,
    error: str,
    error_class: str,
    trace: str,
    permanent: bool,
    cancelled: bool,
) -> str:
    with tenant_scope(job.tenant_id):
        try:
            cancel_requested = fence(job.id, job.lease_token, retention_at=job.retention_at) or cancelled
        except LeaseLost:
            attempt_row(
                job,
                worker=worker,
                outcome=Outcome.LEASE_LOST,
                error=error,
                error_class=error_class,
                trace=trace,
                using="default",
            )
            return str(Outcome.LEASE_LOST)
        outcome = end_unsuccessfully(
            job, spec=spec, error=error, cancel_requested=cancel_requested, permanent=permanent, using="default"
        )
        attempt_outcome = {"retry": Outcome.FAILED, "dead_letter": Outcome.FAILED}.get(outcome, outcome)
        attempt_row(
            job,
            worker=worker,
            outcome=attempt_outcome or Outcome.LEASE_LOST,
            error=error,
            error_class=error_class,
            trace=trace,
            using="default",
        )
        _events([outcome_event(job, outcome, error=clean_error(error))], DEFAULT_DB_ALIAS)
        return outcome or str(Outcome.LEASE_LOST)


def record_lease_lost(job: ClaimedJob, *, worker: str, error: str) -> None:
    with tenant_scope(job.tenant_id):
        attempt_row(job, worker=worker, outcome=Outcome.LEASE_LOST, error=error, using="default")
