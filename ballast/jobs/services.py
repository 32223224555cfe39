"""Write services of the jobs engine. Each opens the tenant's scope (a transaction) and audits its write."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from jsonschema import ValidationError as SchemaError
from opentelemetry.trace import SpanKind

from ballast.jobs import policy, prepared, wakeups
from ballast.jobs import sql as jobs_sql
from ballast.jobs.events import announces
from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.registry import HandlerSpec, UnknownJobType, get_handler, public_handler, public_type_names
from ballast.jobs.states import IllegalTransition
from ballast.jobs.states import JobStatus as S
from ballast.jobs.transitions import NOW, Sql, transition
from ballast.lib import metrics, telemetry, tracing
from ballast.lib.key_locks import lock_keys
from ballast.outbox import services as outbox
from ballast.outbox.models import KEY_COLUMN_LENGTH, KEY_PREFIX_ROOM
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_LIMIT = 100
# Keys that clients send (Idempotency-Key) live under this prefix; the platform's own keys never do, so a
# client cannot pre-claim an internal key such as a webhook delivery's.
CLIENT_KEY_PREFIX = "api:"  # API clients' keys (at most outbox.models.MAX_CLIENT_KEY_LENGTH) are stored under it
assert len(CLIENT_KEY_PREFIX) <= KEY_PREFIX_ROOM, "a client's longest key would overflow jobs_job.idempotency_key"
# Enqueues of one idempotency key take turns (ballast.lib.key_locks): no unique index spans jobs_job's partitions.
IDEMPOTENCY_KEY_LOCKS = "jobs.idempotency_key"
# Enqueues of one type and payload with `unique_for` take turns too (taken after the idempotency keys' locks).
UNIQUE_LOCKS = "jobs.unique"
# The states in which a job holds its uniqueness by default: every one but failed and cancelled.
DEFAULT_UNIQUE_STATES = (S.QUEUED, S.RUNNING, S.SUCCEEDED, S.DLQ_PENDING, S.DLQ_RECORDED)


def client_key(key: str | None) -> str | None:
    return None if key is None else CLIENT_KEY_PREFIX + key


PRIORITY_RANGE = (-100, 100)


# The job.created event of each job the statement created (jobs.sql.ENQUEUE's `created` CTE).
_JOB_CREATED_EXPRESSIONS = {
    "event_id": "created_event_id",
    "target_id": "id::text",
    "payload": "jsonb_build_object('job_id', id) || event_data",
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "traceparent": "traceparent",
}


def _job_created_cte(tenant_id: int, actor: str) -> tuple[str, dict[str, Any]]:
    template = outbox.NewEvent(
        tenant_id=tenant_id, event_type="job.created", target_type="job", target_id="", actor=actor
    )
    insert, params = outbox.insert_from_cte_sql(
        template, cte="created WHERE lifecycle_events", expressions=_JOB_CREATED_EXPRESSIONS, named="ev"
    )
    return f", event AS ({insert})", params


class EnqueueError(ValueError):
    """The job was refused; the message says why and `field` what it is about. Nothing was written."""

    def __init__(self, message: str, *, field: str = "payload") -> None:
        super().__init__(message)
        self.field = field


class IdempotencyConflict(EnqueueError):
    """The idempotency key already names a job with another type or payload."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


def payload_fingerprint(job_type: str, payload: Any) -> str:
    canonical = json.dumps([job_type, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validated(
    job_type: str, payload: Any, max_attempts: int | None, priority: int | None, *, public_only: bool = False
) -> tuple[HandlerSpec, str]:
    try:
        spec = public_handler(job_type) if public_only else get_handler(job_type)
    except UnknownJobType as exc:
        raise EnqueueError(str(exc), field="job_type") from None
    try:
        encoded = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise EnqueueError(f"Payload is not JSON: {exc}") from None
    if "\\u0000" in encoded:
        raise EnqueueError("Payload contains a NUL character, which cannot be stored")
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
        raise EnqueueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}", field="max_attempts")
    if priority is not None and not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise EnqueueError(f"priority must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}", field="priority")
    return spec, encoded


def check_job(job_type: str, payload: Any, *, public_only: bool = False) -> None:
    """EnqueueError unless a job of `job_type` with `payload` would be accepted now. Writes nothing."""
    _validated(job_type, payload, None, None, public_only=public_only)


@dataclass(frozen=True)
class NewJob:
    """One job for enqueue_many (the same options as enqueue)."""

    job_type: str
    payload: Any
    idempotency_key: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    max_attempts: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    queue: str | None = None  # another workers' queue than the type's own (the Tasks API's queue_name)
    unique_for: timedelta | None = None  # None: the type's own (HandlerSpec.unique_for)
    unique_states: Sequence[str] | None = None
    after: Job | int | None = None  # the job this one waits for: it runs once that one succeeded


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
    public_only: bool = False,
    queue: str | None = None,
    unique_for: timedelta | None = None,
    unique_states: Sequence[str] | None = None,
    after: Job | int | None = None,
) -> Job:
    """Create a job in the caller's transaction; its queue is woken only after commit.

    The same tenant and idempotency key return the existing job (`job.created` is False); the same key with
    another type or payload raises IdempotencyConflict. Refused input raises EnqueueError (`public_only`:
    only types clients may enqueue). `queue` runs it on another of the workers' queues than its type's.
    Correlation, causation and trace default to the current request's or job's (ballast.lib.tracing); a
    `job.created` event goes to the outbox in the same statement.

    `unique_for` (default: the type's declaration): while a job of the same tenant, type and payload created
    within that window is in one of `unique_states` (default DEFAULT_UNIQUE_STATES), that job is returned
    (`job.created` is False) instead of a new one. Concurrent enqueues of one type and payload take turns on
    an advisory lock, so they never make two.

    `after` (a job or its id, of the same tenant): the job waits (`waiting`) until that one succeeds, then is
    queued; if that one is dead-lettered or cancelled, this one is cancelled with the reason. EnqueueError when
    that job is unknown or has already failed for good or been cancelled.
    """
    new = NewJob(
        job_type=job_type,
        payload=payload,
        idempotency_key=idempotency_key,
        priority=priority,
        run_at=run_at,
        max_attempts=max_attempts,
        correlation_id=correlation_id,
        causation_id=causation_id,
        queue=queue,
        unique_for=unique_for,
        unique_states=unique_states,
        after=after,
    )
    return enqueue_many(tenant=tenant, jobs=[new], actor=actor, public_only=public_only)[0]


def enqueue_many(
    *,
    tenant: Tenant | int,
    jobs: Sequence[NewJob],
    actor: str = SYSTEM_ACTOR,
    public_only: bool = False,
    batch_id: int | None = None,
    waiting: bool = False,
) -> list[Job]:
    """Create many jobs of one tenant in one statement (jobs, audit rows, job.created events), with the same
    validation and idempotency as enqueue(); the returned jobs are in the order given. Each queue woken once.
    `batch_id` and `waiting` are ballast.jobs.batches': the jobs are that batch's members, or wait for it."""
    tenant_id = _tenant_id(tenant)
    # The jobs' stored traceparent is this span's: their handlers' spans are its children.
    with telemetry.span(
        "ballast.enqueue", kind=SpanKind.PRODUCER, **{"ballast.tenant_id": tenant_id, "ballast.job_count": len(jobs)}
    ) as span:
        created = _enqueue_many(
            tenant_id=tenant_id,
            jobs=jobs,
            actor=actor,
            public_only=public_only,
            batch_id=batch_id,
            status=S.WAITING if waiting else S.QUEUED,
        )
        if len(created) == 1:
            span.set_attributes({"ballast.job.id": created[0].pk, "ballast.job.type": created[0].job_type})
        return created


def _enqueue_many(
    *, tenant_id: int, jobs: Sequence[NewJob], actor: str, public_only: bool, batch_id: int | None, status: str
) -> list[Job]:
    context = tracing.current()
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    unique: dict[int, tuple[str, float, list[str]]] = {}  # ord -> (lock key, window in seconds, states)
    for index, new in enumerate(jobs):
        spec, encoded = _validated(new.job_type, new.payload, new.max_attempts, new.priority, public_only=public_only)
        if new.run_at is not None and timezone.is_naive(new.run_at):
            raise EnqueueError("run_at must carry a time zone", field="run_at")
        queue = spec.queue if new.queue is None else new.queue
        if new.queue is not None and new.queue not in policy.QUEUE_ORDER:
            raise EnqueueError(
                f"Unknown queue {queue!r}; the workers' queues: {', '.join(policy.QUEUE_ORDER)}", field="queue"
            )
        if new.idempotency_key is not None:
            if len(new.idempotency_key) > KEY_COLUMN_LENGTH:
                raise EnqueueError(
                    f"An idempotency key is at most {KEY_COLUMN_LENGTH} characters", field="Idempotency-Key"
                )
            if new.idempotency_key in keys:
                raise EnqueueError(
                    f"Idempotency key {new.idempotency_key!r} appears twice in one enqueue", field="Idempotency-Key"
                )
            keys.append(new.idempotency_key)
        window = new.unique_for if new.unique_for is not None else spec.unique_for
        if window is not None:
            unique[index] = _uniqueness(new, spec, window, [key for key, _, _ in unique.values()])
        traceparent = context.traceparent or tracing.new_traceparent()
        trace_id = context.trace_id or traceparent[3:35]
        rows.append(
            {
                "ord": index,
                "job_type": new.job_type,
                "queue": queue,
                "payload": json.loads(encoded),
                "payload_hash": payload_fingerprint(new.job_type, new.payload),
                "priority": policy.QUEUES[queue].default_priority if new.priority is None else new.priority,
                "run_at": new.run_at.isoformat() if new.run_at else None,
                "max_attempts": new.max_attempts or spec.max_attempts,
                "idempotency_key": new.idempotency_key,
                "trace_id": trace_id,
                "correlation_id": new.correlation_id or context.correlation_id or uuid.uuid4().hex,
                "causation_id": new.causation_id or context.causation_id,
                "traceparent": traceparent,
                "created_event_id": str(uuid.uuid4()),
                "lifecycle_events": spec.lifecycle_events,
                "audit_data": {"job_type": new.job_type, "run_at": new.run_at.isoformat() if new.run_at else None},
                "event_data": {"job_type": new.job_type, "queue": queue},
                "status": status if new.after is None else S.WAITING,
                "batch_id": batch_id,
                "depends_on_id": None
                if new.after is None
                else (new.after if isinstance(new.after, int) else new.after.pk),
            }
        )
    if not rows:
        return []
    if not keys and not unique and not any(row["depends_on_id"] for row in rows) and _outside_transaction():
        # Nothing to lock or look up first: the transaction is the insert alone, sent with its COMMIT.
        return _assemble(tenant_id, rows, keys, _insert(tenant_id, actor, rows, False, committed=True), {})
    with tenant_scope(tenant_id):
        if keys:
            lock_keys(space=IDEMPOTENCY_KEY_LOCKS, tenant_id=tenant_id, keys=keys)
        _mark_parents(rows, public_only=public_only)
        reused = _unique_holders(tenant_id, unique)
        fresh = [row for row in rows if row["ord"] not in reused]
        created = _insert(tenant_id, actor, fresh, bool(keys)) if fresh else {}
        return _assemble(tenant_id, rows, keys, created, reused)


def _mark_parents(rows: list[dict[str, Any]], *, public_only: bool) -> None:
    """Each parent of a row learns it has a dependant (jobs.sql.MARK_PARENT); a row whose parent already succeeded
    is queued at once. EnqueueError for a parent unknown in this tenant, failed or cancelled (`public_only`: or
    not of a type clients may see, which a client is told is unknown). In tenant_scope."""
    if not any(row["depends_on_id"] for row in rows):
        return
    with connections["default"].cursor() as cursor:
        for row in rows:
            parent_id = row["depends_on_id"]
            if parent_id is None:
                continue
            if public_only and not Job.objects.filter(pk=parent_id, job_type__in=public_type_names()).exists():
                raise EnqueueError(f"There is no job {parent_id} to run after", field="after")
            cursor.execute(jobs_sql.MARK_PARENT, {"parent_id": parent_id})
            if cursor.fetchone() is not None:
                continue
            cursor.execute(jobs_sql.PARENT_STATUS, {"parent_id": parent_id})
            found = cursor.fetchone()
            if found is None:
                raise EnqueueError(f"There is no job {parent_id} to run after", field="after")
            if found[0] != S.SUCCEEDED:
                raise EnqueueError(f"Job {parent_id} is {found[0]}: a job after it would never run", field="after")
            row["status"] = S.QUEUED


def _uniqueness(new: NewJob, spec: HandlerSpec, window: timedelta, taken: list[str]) -> tuple[str, float, list[str]]:
    states = list(new.unique_states or spec.unique_states or DEFAULT_UNIQUE_STATES)
    unknown = sorted(set(states) - set(S.values))
    if unknown:
        raise EnqueueError(
            f"Unknown job state {unknown[0]!r} in unique_states; states: {', '.join(S.values)}", field="unique_states"
        )
    if window.total_seconds() <= 0:
        raise EnqueueError("unique_for must be a positive duration", field="unique_for")
    key = f"{new.job_type}:{payload_fingerprint(new.job_type, new.payload)}"
    if key in taken:
        raise EnqueueError(f"Two unique jobs of {new.job_type} with one payload in one enqueue", field="unique_for")
    return key, window.total_seconds(), states


def _unique_holders(tenant_id: int, unique: dict[int, tuple[str, float, list[str]]]) -> dict[int, int]:
    """ord -> the job that holds the uniqueness of that row, after taking the rows' locks. In tenant_scope."""
    if not unique:
        return {}
    lock_keys(space=UNIQUE_LOCKS, tenant_id=tenant_id, keys=[key for key, _, _ in unique.values()])
    found: dict[int, int] = {}
    with connections["default"].cursor() as cursor:
        for ord_, (key, seconds, states) in unique.items():
            job_type, fingerprint = key.rsplit(":", 1)
            cursor.execute(
                jobs_sql.UNIQUE_HOLDER,
                {"job_type": job_type, "payload_hash": fingerprint, "seconds": seconds, "states": states},
            )
            row = cursor.fetchone()
            if row is not None:
                found[ord_] = row[0]
    return found


def _outside_transaction() -> bool:
    connection = connections["default"]
    return not connection.in_atomic_block and connection.get_autocommit()


def _insert(
    tenant_id: int, actor: str, rows: list[dict[str, Any]], keyed: bool, *, committed: bool = False
) -> dict[int, tuple[Any, ...]]:
    """Insert `rows` (jobs, audit rows, job.created events) in one statement: ord -> (id, due, priority,
    available_at, created_at) of each row created (a row whose idempotency key is held creates nothing).
    In tenant_scope; or `committed`, outside any transaction: in one of its own, committed in the same round trip."""
    announce = any(row["lifecycle_events"] for row in rows)
    event_cte, event_params = _job_created_cte(tenant_id, actor) if announce else ("", {})
    statement = jobs_sql.ENQUEUE.format(
        event_cte=event_cte,
        notify=", pg_notify(%(channel)s, '')" if announce else "",
        key_guard=jobs_sql.KEY_GUARD if keyed else "",
    )
    params: dict[str, Any] = {
        **event_params,
        "tenant_id": tenant_id,
        "actor": actor,
        "rows": json.dumps(rows),
        "channel": outbox.NOTIFY_CHANNEL,
    }
    if committed:
        found = prepared.rows_committed("default", statement, params, tenant_id=tenant_id)
    else:
        found = prepared.rows("default", statement, params)
    return {row[0]: row[1:6] for row in found}


def _assemble(
    tenant_id: int,
    rows: list[dict[str, Any]],
    keys: list[str],
    created: dict[int, tuple[Any, ...]],
    reused: dict[int, int],
) -> list[Job]:
    """The jobs of `rows` in order: those created, those a unique job stood for, and those of held keys."""
    with connections["default"].cursor() as cursor:
        existing: dict[str, tuple[int, str]] = {}
        if len(created) + len(reused) < len(rows):
            cursor.execute(jobs_sql.BY_IDEMPOTENCY_KEYS, {"keys": keys})
            existing = {key: (job_id, fingerprint) for job_id, key, fingerprint in cursor.fetchall()}
        result: list[Job] = []
        for row in rows:
            if row["ord"] in reused:
                holder = Job.objects.get(pk=reused[row["ord"]])
                holder.created = False
                result.append(holder)
                continue
            if row["ord"] in created:
                job_id, due, priority, available_at, created_at = created[row["ord"]]
                job = Job(
                    id=job_id,
                    tenant_id=tenant_id,
                    job_type=row["job_type"],
                    queue=row["queue"],
                    payload=row["payload"],
                    payload_hash=row["payload_hash"],
                    status=row["status"],
                    batch_id=row["batch_id"],
                    depends_on_id=row["depends_on_id"],
                    priority=priority,
                    available_at=available_at,
                    attempts=0,
                    last_error="",
                    cancel_requested=False,
                    created_at=created_at,
                    max_attempts=row["max_attempts"],
                    idempotency_key=row["idempotency_key"],
                    trace_id=row["trace_id"],
                    correlation_id=row["correlation_id"],
                    causation_id=row["causation_id"],
                    traceparent=row["traceparent"],
                    created_event_id=uuid.UUID(row["created_event_id"]),
                )
                job.created = True
                if due and row["status"] == S.QUEUED:
                    urgent = priority > policy.QUEUES[row["queue"]].default_priority
                    wakeups.wake_after_commit(row["queue"], tenant_id, urgent=urgent)
                result.append(job)
                continue
            key = row["idempotency_key"]
            job_id, fingerprint = existing[key]
            if fingerprint != row["payload_hash"]:
                raise IdempotencyConflict(
                    f"Idempotency key {key!r} was used for job {job_id} with another type or payload",
                    Job.objects.get(pk=job_id),
                )
            found = Job.objects.get(pk=job_id)
            found.created = False
            result.append(found)
        metrics.jobs_enqueued([(job.job_type, job.queue) for job in result if job.created], tenant_id=tenant_id)
    return result


def _resolve_dead_letters(job: Job) -> int:
    """Close the job's open dead letters: it runs again, or never will. Must run inside tenant_scope."""
    return DeadLetter.objects.filter(job_id=job.pk, status=DeadLetter.Status.RECORDED).update(
        status=DeadLetter.Status.REPLAYED, replayed_at=timezone.now()
    )


def _requeue(job: Job, *, current: str, actor: str, action: str) -> Job:
    """failed/cancelled → queued with a fresh set of attempts, numbered on from the last one (the type's
    max_attempts more, or the job's own when its type is unknown here); its open dead letters resolved; a
    `job.retried` event in its chain; pushed after commit. Must run inside tenant_scope."""
    try:
        allowance = get_handler(job.job_type).max_attempts
    except UnknownJobType:
        allowance = job.max_attempts
    moved = transition(
        job.pk,
        current=current,
        target=S.QUEUED,
        values={
            "max_attempts": Sql(f"attempts + {int(allowance)}"),
            "available_at": NOW,
            "cancel_requested": False,
            "finished_at": None,
            "result": None,
        },
    )
    if not moved:
        job.refresh_from_db()
        raise IllegalTransition(job.status, S.QUEUED)
    resolved = _resolve_dead_letters(job)
    record(
        tenant_id=job.tenant_id,
        actor=actor,
        action=action,
        target_type="job",
        target_id=job.pk,
        trace_id=job.trace_id,
        data={"from": current, "dead_letters_resolved": resolved},
    )
    if announces(job.job_type):
        outbox.insert_events([_job_event(job, "job.retried", actor=actor, replayed=action == "job.replayed")])
    wakeups.wake_after_commit(job.queue, job.tenant_id)
    job.refresh_from_db()
    return job


def _job_event(job: Job, event_type: str, *, actor: str, **extra: Any) -> outbox.NewEvent:
    return outbox.NewEvent(
        tenant_id=job.tenant_id,
        event_type=event_type,
        target_type="job",
        target_id=str(job.pk),
        payload={"job_id": job.pk, "job_type": job.job_type, "attempt": job.attempts, **extra},
        actor=actor,
        correlation_id=job.correlation_id,
        causation_id=str(job.created_event_id),
        traceparent=job.traceparent,
    )


def retry_job(*, job: Job, actor: str = SYSTEM_ACTOR) -> Job:
    """A failed or cancelled job runs again with a fresh set of attempts. IllegalTransition from any other state."""
    if job.status not in (S.FAILED, S.CANCELLED):
        raise IllegalTransition(job.status, S.QUEUED)
    with tenant_scope(job.tenant_id):
        return _requeue(job, current=job.status, actor=actor, action="job.retried")


def _count_cancelled(job: Job) -> None:
    """A queued job cancelled: counted once the caller's transaction commits."""
    count = partial(
        metrics.job_ended, job_type=job.job_type, queue=job.queue, tenant_id=job.tenant_id, outcome="cancelled"
    )
    transaction.on_commit(count, using="default")


def discard_job(*, job: Job, actor: str = SYSTEM_ACTOR) -> int:
    """A job that should never run: a queued one is cancelled; a failed or cancelled one stays so and its open dead
    letters are closed without a replay; audited `job.discarded` under its trace id. Returns the dead letters
    closed. IllegalTransition from any other state, for a finished job with no open dead letter (nothing to
    discard), or when a queued job was claimed meanwhile."""
    with tenant_scope(job.tenant_id):
        if job.status == S.QUEUED:
            if not transition(
                job.pk, current=S.QUEUED, target=S.CANCELLED, values={"finished_at": NOW, "cancel_requested": True}
            ):
                job.refresh_from_db()
                raise IllegalTransition(job.status, S.CANCELLED)
            _count_cancelled(job)
        elif job.status not in (S.FAILED, S.CANCELLED):
            raise IllegalTransition(job.status, S.CANCELLED)
        closed = _resolve_dead_letters(job)
        if job.status != S.QUEUED and not closed:
            raise IllegalTransition(job.status, S.CANCELLED)
        record(
            tenant_id=job.tenant_id,
            actor=actor,
            action="job.discarded",
            target_type="job",
            target_id=job.pk,
            trace_id=job.trace_id,
            data={"dead_letters_closed": closed},
        )
        return closed


def cancel_job(*, job: Job, actor: str = SYSTEM_ACTOR) -> Job:
    """Queued or waiting (a batch's callback): cancelled at once. Running: cancel_requested, and the handler stops
    when it next checks."""
    with tenant_scope(job.tenant_id):
        if job.status in (S.QUEUED, S.WAITING) and transition(
            job.pk, current=job.status, target=S.CANCELLED, values={"finished_at": NOW, "cancel_requested": True}
        ):
            action = "job.cancelled"
            _count_cancelled(job)
            if announces(job.job_type):
                outbox.insert_events([_job_event(job, "job.cancelled", actor=actor)])
        elif job.status in (S.QUEUED, S.RUNNING):
            with connections["default"].cursor() as cursor:
                cursor.execute(jobs_sql.REQUEST_CANCEL, {"job_id": job.pk})
                updated = cursor.rowcount
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


def enqueue_or_revive(*, tenant: Tenant | int, job_type: str, payload: Any, key: str, actor: str = SYSTEM_ACTOR) -> Job:
    """At most one unfinished job of `job_type` per tenant and `key`: enqueue one, or revive the one there is.

    A queued job due later (scheduled, or backing off after failures) is brought forward to run now; a running
    job whose lease has expired (its worker died or hung) is taken back and queued to run now, the lost attempt
    counted (with one more allowed if it was the last); a queued job already due, or a running one within its
    lease, is returned as it is. Only when none is unfinished is a new job enqueued (`job.created` is True).
    Concurrent callers serialise on an advisory lock, so they never stack two. Times are the database's.
    """
    from django.db.models import BooleanField, ExpressionWrapper, Q
    from django.db.models.functions import Now

    from ballast.jobs.models import JobAttempt
    from ballast.jobs.transitions import CLEAR_LEASE

    tenant_id = _tenant_id(tenant)
    with tenant_scope(tenant_id):
        lock_keys(space=f"jobs.unfinished.{job_type}", tenant_id=tenant_id, keys=[key])
        job = (
            Job.objects.select_for_update()
            .filter(job_type=job_type, idempotency_key__startswith=f"{key}:", status__in=[S.QUEUED, S.RUNNING])
            .annotate(
                due_later=ExpressionWrapper(Q(available_at__gt=Now()), output_field=BooleanField()),
                lease_expired=ExpressionWrapper(Q(lease_expires_at__lt=Now()), output_field=BooleanField()),
            )
            .order_by("-id")
            .first()
        )
        if job is None:
            return enqueue(
                tenant=tenant_id,
                job_type=job_type,
                payload=payload,
                idempotency_key=f"{key}:{uuid.uuid4()}",
                actor=actor,
            )
        job.created = False
        if job.status == S.QUEUED and job.due_later:
            Job.objects.filter(pk=job.pk, status=S.QUEUED).update(available_at=Now(), updated_at=Now())
            action = "job.brought_forward"
        elif job.status == S.RUNNING and job.lease_expired:
            lost = "Lease expired: taken back by enqueue_or_revive"
            if not transition(
                job.pk,
                current=S.RUNNING,
                target=S.QUEUED,
                fence=job.lease_token,
                values={
                    **CLEAR_LEASE,
                    "locked_by": "",
                    "last_error": lost,
                    "available_at": NOW,
                    "max_attempts": Sql("GREATEST(max_attempts, attempts + 1)"),
                },
            ):
                return job
            JobAttempt.objects.create(
                tenant_id=tenant_id,
                job_id=job.pk,
                attempt=job.attempts,
                worker=job.locked_by,
                started_at=job.locked_at or job.created_at,
                finished_at=Now(),
                outcome=JobAttempt.Outcome.LOST,
                error=lost,
            )
            action = "job.taken_back"
        else:
            return job
        record(
            tenant_id=tenant_id, actor=actor, action=action, target_type="job", target_id=job.pk, trace_id=job.trace_id
        )
        wakeups.wake_after_commit(job.queue, tenant_id)
        job.refresh_from_db()
        job.created = False
        return job
