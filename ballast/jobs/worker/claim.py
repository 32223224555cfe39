"""Claiming: a job is taken (queued → running, with a lease and its attempt counted) just before it runs.

A worker never holds a job it has not started, so a killed worker loses only the job it was running.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from ballast.jobs import sql, transitions
from ballast.jobs.policy import SCHEDULER_QUEUES


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    tenant_id: int
    job_type: str
    queue: str
    payload: Any
    attempt: int
    max_attempts: int
    lease_token: uuid.UUID
    trace_id: str
    correlation_id: str
    traceparent: str
    created_event_id: uuid.UUID
    started_at: datetime
    cancel_requested: bool = False
    worker: str = ""
    # Another due job of the same queue and tenant was seen when this one was claimed.
    more: bool = False
    # The job's partition key: statements about this job name it, so they are planned on its partition alone.
    retention_at: datetime | None = None
    # When it became due (its wait is started_at - available_at).
    available_at: datetime | None = None


@dataclass(frozen=True)
class NextClaim:
    """Claim the next due job of this queue and tenant together with an acknowledgement (one commit)."""

    queue: str
    tenant_id: int
    worker: str
    excluded_types: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "tenant_id": self.tenant_id,
            "worker": self.worker,
            "lease": settings.JOBS_LEASE_SECONDS,
            "paused_types": list(self.excluded_types),
        }


def load_json(value: Any) -> Any:
    """Django has psycopg hand jsonb over as text (JSONField decodes it); raw cursors decode here."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def from_row(row: tuple[Any, ...]) -> ClaimedJob:
    """A row of jobs.sql.CLAIMED_COLUMNS."""
    (job_id, tenant_id, job_type, queue, payload, attempts, max_attempts, token, trace_id, correlation_id) = row[:10]
    (traceparent, created_event_id, locked_at, cancel_requested, locked_by, retention_at, available_at) = row[10:17]
    return ClaimedJob(
        id=job_id,
        tenant_id=tenant_id,
        job_type=job_type,
        queue=queue,
        payload=load_json(payload),
        attempt=attempts,
        max_attempts=max_attempts,
        lease_token=token,
        trace_id=trace_id,
        correlation_id=correlation_id,
        traceparent=traceparent,
        created_event_id=created_event_id,
        started_at=locked_at,
        cancel_requested=bool(cancel_requested),
        worker=locked_by,
        more=bool(row[17]) if len(row) > 17 else False,
        retention_at=retention_at,
        available_at=available_at,
    )


def claim_next(
    *, queue: str, tenant_id: int, worker: str, excluded_types: list[str] | None = None
) -> ClaimedJob | None:
    """The due job of this queue and tenant that should run next (priority, then age), or None."""
    rows = transitions.claim(
        sql.CLAIM_NEXT,
        {
            "queue": queue,
            "tenant_id": tenant_id,
            "worker": worker,
            "lease": settings.JOBS_LEASE_SECONDS,
            "paused_types": excluded_types or [],
        },
    )
    return from_row(rows[0]) if rows else None


def claimed_or_none(row: tuple[Any, ...]) -> ClaimedJob | None:
    """The tail of an acknowledgement's row that claimed the next job (jobs.sql.SUCCEED with {claim_cte})."""
    return None if row[0] is None else from_row(row)


def claim_due(
    *,
    limit: int,
    worker: str,
    tenant_id: int | None = None,
    job_type: str | None = None,
    excluded_types: list[str] | None = None,
    queues: list[str] | None = None,
) -> list[ClaimedJob]:
    """Up to `limit` due jobs across queues (or of these `queues`; and tenants, unless one is named), highest
    priority first."""
    rows = transitions.claim(
        sql.CLAIM_DUE,
        {
            "limit": limit,
            "worker": worker,
            "lease": settings.JOBS_LEASE_SECONDS,
            "tenant_id": tenant_id,
            "job_type": job_type,
            "queues": queues,
            "paused_types": excluded_types or [],
        },
    )
    return [from_row(row) for row in rows]


def claim_job(job_id: int, *, worker: str) -> ClaimedJob | None:
    """This job, if it is queued and due, and not on a queue only the scheduler serves (its jobs need the
    owner's DSN)."""
    rows = transitions.claim(
        sql.CLAIM_BY_ID,
        {
            "job_id": job_id,
            "worker": worker,
            "lease": settings.JOBS_LEASE_SECONDS,
            "scheduler_queues": list(SCHEDULER_QUEUES),
        },
    )
    return from_row(rows[0]) if rows else None
