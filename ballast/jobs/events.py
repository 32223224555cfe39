"""The outbox events a job's life emits, in the transaction of each state change."""

from __future__ import annotations

from typing import Any

from ballast.jobs.registry import UnknownJobType, get_handler
from ballast.jobs.worker.claim import ClaimedJob
from ballast.lib.tracing import TraceContext
from ballast.outbox.services import NewEvent

# What an attempt's outcome (jobs.execution) announces; a lost lease announces nothing.
OUTCOME_EVENTS = {
    "succeeded": "job.succeeded",
    "retry": "job.retry_scheduled",
    "dead_letter": "job.dead_lettered",
    "cancelled": "job.cancelled",
}


def job_trace(job: ClaimedJob) -> TraceContext:
    """While a job runs, what it enqueues or emits was caused by it (its job.created event)."""
    return TraceContext(
        correlation_id=job.correlation_id, causation_id=str(job.created_event_id), traceparent=job.traceparent
    )


def announces(job_type: str) -> bool:
    """Whether jobs of this type emit lifecycle events (the relay's own delivery jobs do not)."""
    try:
        return get_handler(job_type).lifecycle_events
    except UnknownJobType:
        return True


def outcome_event(job: ClaimedJob, outcome: str, **data: Any) -> NewEvent | None:
    event_type = OUTCOME_EVENTS.get(outcome)
    if event_type is None or not announces(job.job_type):
        return None
    return NewEvent(
        tenant_id=job.tenant_id,
        event_type=event_type,
        target_type="job",
        target_id=str(job.id),
        payload={"job_id": job.id, "job_type": job.job_type, "attempt": job.attempt, **data},
        correlation_id=job.correlation_id,
        causation_id=str(job.created_event_id),
        traceparent=job.traceparent,
    )
