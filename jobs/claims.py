"""Claiming jobs for one attempt: a conditional UPDATE that hands out a lease, or nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections

CLAIM_COLUMNS = (
    "id, tenant_id, job_type, queue, payload, attempts, max_attempts, lease_token, trace_id, correlation_id, "
    "traceparent, created_event_id, created_at, locked_at"
)


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
    created_at: datetime
    started_at: datetime


def load_json(value: Any) -> Any:
    """Django has psycopg hand jsonb over as text (JSONField decodes it); raw cursors decode here."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def claimed_from_row(row: tuple[Any, ...], started_at: datetime | None = None) -> ClaimedJob:
    (
        job_id,
        tenant_id,
        job_type,
        queue,
        payload,
        attempts,
        max_attempts,
        token,
        trace_id,
        correlation_id,
        traceparent,
        created_event_id,
        created_at,
        locked_at,
    ) = row
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
        created_at=created_at,
        started_at=started_at or locked_at,
    )


def _claimed(rows: list[tuple[Any, ...]]) -> list[ClaimedJob]:
    return [claimed_from_row(row) for row in rows]


def claim_ids(job_ids: list[int], *, worker: str, using: str = "default") -> list[ClaimedJob]:
    """Claim those of these jobs that are queued and due. Must run inside tenant_scope on the app alias:
    row-level security keeps a message from claiming another tenant's job."""
    if not job_ids:
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET status = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(), "  # noqa: S608
            "locked_by = %s, locked_at = now(), lease_expires_at = now() + make_interval(secs => %s), "
            "started_at = COALESCE(started_at, now()), dispatched_at = NULL, updated_at = now() "
            "WHERE id = ANY(%s) AND status = 'queued' AND available_at <= now() AND NOT cancel_requested "
            f"RETURNING {CLAIM_COLUMNS}",
            [worker, settings.JOBS_LEASE_SECONDS, job_ids],
        )
        claimed = _claimed(cursor.fetchall())
    order = {job_id: index for index, job_id in enumerate(job_ids)}
    return sorted(claimed, key=lambda job: order[job.id])


def claim_due(
    *, limit: int, worker: str, tenant_id: int | None = None, job_type: str | None = None, using: str = "system"
) -> list[ClaimedJob]:
    """Claim up to `limit` due jobs, highest priority first, skipping rows other claimers hold (SKIP LOCKED)."""
    filters = ["status = 'queued'", "available_at <= now()", "NOT cancel_requested"]
    params: list[Any] = []
    if tenant_id is not None:
        filters.append("tenant_id = %s")
        params.append(tenant_id)
    if job_type is not None:
        filters.append("job_type = %s")
        params.append(job_type)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET status = 'running', attempts = attempts + 1, lease_token = gen_random_uuid(), "  # noqa: S608
            "locked_by = %s, locked_at = now(), lease_expires_at = now() + make_interval(secs => %s), "
            "started_at = COALESCE(started_at, now()), dispatched_at = NULL, updated_at = now() "
            "WHERE id IN (SELECT id FROM jobs_job WHERE "
            + " AND ".join(filters)
            + " ORDER BY priority DESC, available_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING {CLAIM_COLUMNS}",
            [worker, settings.JOBS_LEASE_SECONDS, *params, limit],
        )
        return _claimed(cursor.fetchall())
