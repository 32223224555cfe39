"""Write services of the jobs engine. Each opens the tenant's scope (a transaction) and audits its write."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from jsonschema import ValidationError as SchemaError

from jobs import messages, policy
from jobs.events import announces
from jobs.models import DeadLetter, Job
from jobs.registry import UnknownJobType, get_handler
from jobs.states import IllegalTransition
from jobs.states import JobStatus as S
from jobs.transitions import NOW, transition
from outbox import services as outbox
from outbox import tracing
from tenants.audit import SYSTEM_ACTOR, record
from tenants.context import tenant_scope
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_LIMIT = 100
PRIORITY_RANGE = (-100, 100)


# The job.created event's columns (outbox.services.COLUMNS), filled from the inserted job's id.
JOB_CREATED_EVENT_VALUES = (
    "%s, %s, 'job.created', %s, 'job', id::text, %s, 1, "
    "jsonb_build_object('job_id', id) || %s::jsonb, %s, %s, %s, %s, 'pending', 0, %s, ''"
)


JOB_CREATED_EVENT_SQL = (
    f", event AS (INSERT INTO outbox_outboxevent ({outbox.COLUMNS}) SELECT {JOB_CREATED_EVENT_VALUES} FROM job)"  # noqa: S608
)


class EnqueueError(ValueError):
    """The job was refused; the message says why. Nothing was written."""


class IdempotencyConflict(EnqueueError):
    """The idempotency key already names a job with another type or payload."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


def payload_fingerprint(job_type: str, payload: Any) -> str:
    canonical = json.dumps([job_type, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validated(job_type: str, payload: Any, max_attempts: int | None, priority: int | None) -> tuple[Any, str]:
    try:
        spec = get_handler(job_type)
    except UnknownJobType as exc:
        raise EnqueueError(str(exc)) from None
    try:
        encoded = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise EnqueueError(f"Payload is not JSON: {exc}") from None
    size = len(encoded.encode())
    if size > settings.JOBS_MAX_PAYLOAD_BYTES:
        raise EnqueueError(
            f"Payload is {size} bytes; the limit (JOBS_MAX_PAYLOAD_BYTES) is {settings.JOBS_MAX_PAYLOAD_BYTES}"
        )
    try:
        spec.validate(payload)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "payload"
        raise EnqueueError(f"Payload does not fit {job_type}: {where}: {exc.message}") from None
    if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise EnqueueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")
    if priority is not None and not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise EnqueueError(f"priority must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}")
    return spec, encoded


class _PushAfterCommit:
    """One on_commit callback per transaction pushes all the jobs it enqueued, in batched messages."""

    def __init__(self) -> None:
        self.entries: list[messages.Entry] = []

    def __call__(self) -> None:
        try:
            messages.push(self.entries)
        except Exception:
            # Redis is unreachable: leave the jobs for the scheduler to push on its next pass.
            logger.exception("push after commit failed; the scheduler will dispatch %d job(s)", len(self.entries))
            mark_undispatched([entry.job_id for entry in self.entries])


def _push_after_commit(entry: messages.Entry, using: str = "default") -> None:
    connection = connections[using]
    pending = getattr(connection, "_ballast_push", None)
    registered = pending is not None and any(entry[1] is pending for entry in connection.run_on_commit)
    if not registered:
        pending = _PushAfterCommit()
        connection._ballast_push = pending  # type: ignore[attr-defined]
        transaction.on_commit(pending, using=using)
    assert pending is not None
    pending.entries.append(entry)


def mark_undispatched(job_ids: list[int]) -> None:
    with connections["system"].cursor() as cursor:
        cursor.execute("UPDATE jobs_job SET dispatched_at = NULL WHERE id = ANY(%s) AND status = 'queued'", [job_ids])


def _tenant_id(tenant: Tenant | int) -> int:
    return tenant if isinstance(tenant, int) else tenant.pk


def enqueue(
    *,
    tenant: Tenant | int,
    job_type: str,
    payload: Any,
    idempotency_key: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    actor: str = SYSTEM_ACTOR,
) -> Job:
    """Create a job in the caller's transaction; its message goes to RQ only after commit.

    The same tenant and idempotency key return the existing job (`job.created` is False); the same key with
    another type or payload raises IdempotencyConflict. Refused input raises EnqueueError. Correlation,
    causation and trace default to the current request's or job's (outbox.tracing); a `job.created` event
    goes to the outbox in the same statement.
    """
    spec, encoded = _validated(job_type, payload, max_attempts, priority)
    tenant_id = _tenant_id(tenant)
    if run_at is not None and timezone.is_naive(run_at):
        raise EnqueueError("run_at must carry a time zone")
    now = timezone.now()
    available_at = max(run_at, now) if run_at else now
    immediate = available_at <= now
    fingerprint = payload_fingerprint(job_type, payload)
    context = tracing.current()
    traceparent = context.traceparent or tracing.new_traceparent()
    trace_id = context.trace_id or traceparent[3:35]
    correlation_id = correlation_id or context.correlation_id or uuid.uuid4().hex
    causation_id = causation_id or context.causation_id
    created_event_id = uuid.uuid4()
    values = {
        "tenant_id": tenant_id,
        "job_type": job_type,
        "queue": spec.queue,
        "payload": encoded,
        "payload_hash": fingerprint,
        "status": S.QUEUED,
        "priority": policy.QUEUES[spec.queue].default_priority if priority is None else priority,
        "available_at": available_at,
        "attempts": 0,
        "max_attempts": max_attempts or spec.max_attempts,
        "last_error": "",
        "idempotency_key": idempotency_key,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "traceparent": traceparent,
        "created_event_id": created_event_id,
        "locked_by": "",
        "cancel_requested": False,
        "dispatched_at": now if immediate else None,
        "created_at": now,
        "updated_at": now,
    }
    columns = ", ".join(values)
    placeholders = ", ".join("%s::jsonb" if column == "payload" else "%s" for column in values)
    conflict = (
        " ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
        if idempotency_key
        else ""
    )
    audit_data = json.dumps({"job_type": job_type, "run_at": None if immediate else available_at.isoformat()})
    event_data = json.dumps({"job_type": job_type, "queue": spec.queue, "run_at": available_at.isoformat()})
    event_sql, event_params = "", list[Any]()
    if spec.lifecycle_events:
        event_sql = JOB_CREATED_EVENT_SQL
        event_params = [tenant_id, created_event_id, actor, now, event_data, correlation_id, causation_id, traceparent]
        event_params += [now, now]
    with tenant_scope(tenant_id), connections["default"].cursor() as cursor:
        # One round trip: the job, its audit row and its job.created event (in the outbox) in one statement.
        cursor.execute(
            f"WITH job AS (INSERT INTO jobs_job ({columns}) VALUES ({placeholders}){conflict} RETURNING id), "  # noqa: S608
            "audit AS (INSERT INTO tenants_auditentry "
            "(tenant_id, actor, action, target_type, target_id, trace_id, data, at) "
            f"SELECT %s, %s, 'job.enqueued', 'job', id::text, %s, %s::jsonb, %s FROM job){event_sql} "
            "SELECT id, pg_notify(%s, '') FROM job",
            [*values.values(), tenant_id, actor, trace_id, audit_data, now, *event_params, outbox.NOTIFY_CHANNEL],
        )
        row = cursor.fetchone()
        if row is None:
            existing = Job.objects.get(idempotency_key=idempotency_key)
            if existing.payload_hash != fingerprint:
                raise IdempotencyConflict(
                    f"Idempotency key {idempotency_key!r} was used for job {existing.pk} with another type or payload",
                    existing,
                )
            existing.created = False
            return existing
        job = Job(id=row[0], **{**values, "payload": payload})
        job.created = True
        if immediate:
            _push_after_commit(
                messages.Entry(
                    job_id=job.pk,
                    tenant_id=tenant_id,
                    queue=spec.queue,
                    job_type=job_type,
                    trace_id=trace_id,
                    attempt=1,
                    timeout=spec.timeout,
                )
            )
    return job


def _requeue(job: Job, *, current: str, actor: str, action: str) -> Job:
    """failed/cancelled → queued with fresh attempts; pushed after commit. Must run inside tenant_scope."""
    moved = transition(
        job.pk,
        current=current,
        target=S.QUEUED,
        values={
            "attempts": 0,
            "available_at": NOW,
            "dispatched_at": NOW,
            "cancel_requested": False,
            "finished_at": None,
            "result": None,
        },
    )
    if not moved:
        job.refresh_from_db()
        raise IllegalTransition(job.status, S.QUEUED)
    record(
        tenant_id=job.tenant_id, actor=actor, action=action, target_type="job", target_id=job.pk, trace_id=job.trace_id
    )
    spec_timeout = 300.0
    try:
        spec_timeout = get_handler(job.job_type).timeout
    except UnknownJobType:
        pass
    _push_after_commit(
        messages.Entry(
            job_id=job.pk,
            tenant_id=job.tenant_id,
            queue=job.queue,
            job_type=job.job_type,
            trace_id=job.trace_id,
            attempt=1,
            timeout=spec_timeout,
        )
    )
    job.refresh_from_db()
    return job


def retry_job(*, job: Job, actor: str = SYSTEM_ACTOR) -> Job:
    """A failed or cancelled job runs again with fresh attempts. IllegalTransition from any other state."""
    if job.status not in (S.FAILED, S.CANCELLED):
        raise IllegalTransition(job.status, S.QUEUED)
    with tenant_scope(job.tenant_id):
        return _requeue(job, current=job.status, actor=actor, action="job.retried")


def cancel_job(*, job: Job, actor: str = SYSTEM_ACTOR) -> Job:
    """Queued: cancelled at once. Running: cancel_requested, and the handler stops when it next checks."""
    with tenant_scope(job.tenant_id):
        if job.status == S.QUEUED and transition(
            job.pk, current=S.QUEUED, target=S.CANCELLED, values={"finished_at": NOW, "cancel_requested": True}
        ):
            action = "job.cancelled"
            if announces(job.job_type):
                outbox.insert_events(
                    [
                        outbox.NewEvent(
                            tenant_id=job.tenant_id,
                            event_type="job.cancelled",
                            target_type="job",
                            target_id=str(job.pk),
                            payload={"job_id": job.pk, "job_type": job.job_type, "attempt": job.attempts},
                            actor=actor,
                            correlation_id=job.correlation_id,
                            causation_id=str(job.created_event_id),
                            traceparent=job.traceparent,
                        )
                    ]
                )
        elif job.status in (S.QUEUED, S.RUNNING):
            updated = Job.objects.filter(pk=job.pk, status__in=[S.QUEUED, S.RUNNING]).update(cancel_requested=True)
            if not updated:
                job.refresh_from_db()
                raise IllegalTransition(job.status, S.CANCELLED)
            action = "job.cancel_requested"
        else:
            raise IllegalTransition(job.status, S.CANCELLED)
        record(
            tenant_id=job.tenant_id,
            actor=actor,
            action=action,
            target_type="job",
            target_id=job.pk,
            trace_id=job.trace_id,
        )
        job.refresh_from_db()
        return job


def replay_dead_letter(*, dead_letter: DeadLetter, actor: str = SYSTEM_ACTOR) -> Job:
    """Run a dead-lettered job again. A dead letter replays once; its job must still be failed."""
    with tenant_scope(dead_letter.tenant_id):
        claimed = DeadLetter.objects.filter(pk=dead_letter.pk, status=DeadLetter.Status.RECORDED).update(
            status=DeadLetter.Status.REPLAYED, replayed_at=timezone.now()
        )
        if not claimed:
            raise IllegalTransition(DeadLetter.Status.REPLAYED, DeadLetter.Status.REPLAYED)
        job = Job.objects.get(pk=dead_letter.job_id)
        if job.status != S.FAILED:
            raise IllegalTransition(job.status, S.QUEUED)
        return _requeue(job, current=S.FAILED, actor=actor, action="job.replayed")
