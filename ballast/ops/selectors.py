"""Reads for the operator consoles. Cross-tenant, so through the system alias. The jobs tables are read through the
named statements of ballast.jobs.sql (the queue counts through the partial indexes on queued and running jobs,
finished jobs from the last hour's attempts only); the console's own tables here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Count, F

from ballast.jobs import pauses, policy, wakeups
from ballast.jobs import sql as jobs_sql
from ballast.jobs.bulk import JobFilter
from ballast.jobs.registry import get_handler, registered_types
from ballast.ops.models import Alert, PreflightResult

SYSTEM = "system"


def _rows(statement: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(statement, params or {})
        columns = [column.name for column in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _merged(key: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows of several parts (UNION ALL, or two statements) merged by `key`: counts added, other values kept."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        into = merged.setdefault(row[key], {key: row[key]})
        for name, value in row.items():
            if name in ("due", "scheduled", "running"):
                into[name] = into.get(name, 0) + int(value or 0)
            elif value is not None:
                into[name] = value
    return merged


def _one(statement: str, params: dict[str, Any] | None = None) -> Any:
    rows = _rows(statement, params)
    return next(iter(rows[0].values())) if rows else None


TYPE_SCHEDULED = """
SELECT job_type, sum(scheduled) AS scheduled FROM ops_typebacklog
WHERE (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s) GROUP BY job_type
"""


@dataclass
class QueueHealth:
    queue: str
    due: int = 0
    scheduled: int = 0
    running: int = 0
    oldest_due_seconds: float | None = None
    per_minute: float = 0.0
    failures_hour: int = 0
    workers: int = 0
    paused: bool = False


@dataclass
class Snapshot:
    queues: list[QueueHealth]
    leader: str | None
    leader_since: datetime | None
    leader_live: bool
    redis_ok: bool
    expired_leases: int
    outbox_lag_seconds: float | None
    dead_letters_24h: int
    open_alerts: int
    paused_queues: list[str] = field(default_factory=list)
    paused_types: list[str] = field(default_factory=list)


def workers_by_queue() -> tuple[dict[str, int], bool]:
    """Workers listening on each RQ queue, from RQ's worker registry; (counts, Redis reachable)."""
    from rq import Worker

    counts = dict.fromkeys(policy.QUEUES, 0)
    try:
        connection = wakeups.redis_connection()
        connection.ping()
        for worker in Worker.all(connection=connection):
            for name in worker.queue_names():
                queue = policy.queue_named(name)
                if queue in counts:
                    counts[queue] += 1
    except Exception:
        return counts, False
    return counts, True


def tenant_choices() -> list[tuple[int, str]]:
    return [(row["id"], row["slug"]) for row in _rows("SELECT id, slug FROM tenants_tenant ORDER BY slug")]


def snapshot(*, tenant_id: int | None = None) -> Snapshot:
    params = {"tenant_id": tenant_id}
    counts = _merged("queue", _rows(jobs_sql.QUEUE_COUNTS, params))
    hour = {row["queue"]: row for row in _rows(jobs_sql.QUEUE_LAST_HOUR, params)}
    workers, redis_ok = workers_by_queue()
    leader = _rows(jobs_sql.LEADER)
    for name in policy.SCHEDULER_QUEUES:  # served by the scheduler's leader, not by RQ workers
        workers[name] = int(bool(leader and leader[0]["live"]))
    paused = pauses.current()
    queues = []
    for name in policy.QUEUES:
        row, done = counts.get(name, {}), hour.get(name, {})
        oldest = row.get("oldest_due_seconds")
        queues.append(
            QueueHealth(
                queue=name,
                due=row.get("due", 0),
                scheduled=row.get("scheduled", 0),
                running=row.get("running", 0),
                oldest_due_seconds=float(oldest) if oldest is not None else None,
                per_minute=round(done.get("finished", 0) / 60, 2),
                failures_hour=done.get("failures", 0),
                workers=workers.get(name, 0),
                paused=name in paused.queues,
            )
        )
    lag = _one(
        "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox_outboxevent WHERE status = 'pending' "
        "AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)",
        params,
    )
    return Snapshot(
        queues=queues,
        leader=leader[0]["holder"] if leader else None,
        leader_since=leader[0]["elected_at"] if leader else None,
        leader_live=bool(leader and leader[0]["live"]),
        redis_ok=redis_ok,
        expired_leases=_one(jobs_sql.EXPIRED_LEASE_COUNT, params),
        outbox_lag_seconds=float(lag) if lag is not None else None,
        dead_letters_24h=_one(jobs_sql.OPEN_DEAD_LETTERS_SINCE, {**params, "minutes": 24 * 60}),
        open_alerts=Alert.objects.using(SYSTEM).exclude(status=Alert.Status.RESOLVED).count(),
        paused_queues=sorted(paused.queues),
        paused_types=sorted(paused.types),
    )


@dataclass
class TypeRow:
    job_type: str
    queue: str
    due: int
    scheduled: int
    running: int
    finished_hour: int
    failure_rate: float | None
    run_ms: tuple[Any, Any, Any]
    wait_ms: tuple[Any, Any, Any]
    last_error: str
    paused: bool


def _ms(value: Any) -> int | None:
    return None if value is None else int(value)


def type_overview(*, tenant_id: int | None = None) -> list[TypeRow]:
    params = {"tenant_id": tenant_id}
    counts = _merged("job_type", _rows(jobs_sql.TYPE_COUNTS, params) + _rows(TYPE_SCHEDULED, params))
    hour = {row["job_type"]: row for row in _rows(jobs_sql.TYPE_LAST_HOUR, params)}
    paused = pauses.current()
    rows = []
    for name in sorted(set(registered_types()) | set(counts) | set(hour)):
        row, done = counts.get(name, {}), hour.get(name, {})
        try:
            queue = get_handler(name).queue
        except LookupError:
            queue = "?"
        finished = done.get("finished", 0)
        rows.append(
            TypeRow(
                job_type=name,
                queue=queue,
                due=row.get("due", 0),
                scheduled=row.get("scheduled", 0),
                running=row.get("running", 0),
                finished_hour=finished,
                failure_rate=round(done["failures"] / finished, 3) if finished else None,
                run_ms=(_ms(done.get("run_p50")), _ms(done.get("run_p95")), _ms(done.get("run_p99"))),
                wait_ms=(_ms(done.get("wait_p50")), _ms(done.get("wait_p95")), _ms(done.get("wait_p99"))),
                last_error=(done.get("last_error") or "")[:300],
                paused=name in paused.types or queue in paused.queues,
            )
        )
    return rows


def tenant_hints() -> list[dict[str, Any]]:
    return _rows(jobs_sql.TENANT_HINTS)


def dead_letters(*, tenant_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return _rows(jobs_sql.OPEN_DEAD_LETTERS, {"tenant_id": tenant_id, "limit": limit})


def alerts(*, limit: int = 50) -> list[Alert]:
    return list(Alert.objects.using(SYSTEM).exclude(status=Alert.Status.RESOLVED).order_by("-opened_at")[:limit])


# Uploads console.

INTENTS_BY_TENANT = """
SELECT t.slug AS tenant, i.status, count(*) AS count, COALESCE(sum(i.size), 0) AS bytes
FROM uploads_uploadintent i JOIN tenants_tenant t ON t.id = i.tenant_id
WHERE (%(tenant_id)s::bigint IS NULL OR i.tenant_id = %(tenant_id)s)
GROUP BY t.slug, i.status ORDER BY t.slug, i.status
"""

STUCK_INTENTS = """
SELECT count(*) FROM uploads_uploadintent
WHERE status IN ('pending', 'uploaded') AND expires_at < now() - make_interval(secs => %(grace)s)
  AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
"""

STORAGE_BY_TENANT = """
SELECT t.id AS tenant_id, t.slug,
    COALESCE((SELECT sum(size) FROM uploads_document d WHERE d.tenant_id = t.id AND d.status <> 'purged'), 0)
    + COALESCE((SELECT sum(size) FROM uploads_uploadintent i WHERE i.tenant_id = t.id
                AND i.status IN ('pending', 'uploaded') AND i.expires_at > now()), 0) AS used
FROM tenants_tenant t WHERE (%(tenant_id)s::bigint IS NULL OR t.id = %(tenant_id)s) ORDER BY t.slug
"""

CLEANUP_RUNS = """
SELECT r.id, t.slug AS tenant, r.kind, r.trigger, r.job_id, r.dry_run, r.intents_cleaned, r.orphans_deleted,
    r.documents_purged, r.objects_deleted, r.bytes_freed, jsonb_array_length(r.errors) AS error_count,
    r.errors, r.started_at, r.finished_at
FROM uploads_cleanuprun r JOIN tenants_tenant t ON t.id = r.tenant_id
WHERE (%(tenant_id)s::bigint IS NULL OR r.tenant_id = %(tenant_id)s)
ORDER BY r.finished_at DESC LIMIT %(limit)s
"""


def intents_by_tenant(*, tenant_id: int | None = None) -> list[dict[str, Any]]:
    return _rows(INTENTS_BY_TENANT, {"tenant_id": tenant_id})


def stuck_intents(*, tenant_id: int | None = None) -> int:
    return int(_one(STUCK_INTENTS, {"tenant_id": tenant_id, "grace": settings.UPLOAD_CLEANUP_GRACE_SECONDS}))


def storage_by_tenant(*, tenant_id: int | None = None) -> list[dict[str, Any]]:
    quota = settings.TENANT_STORAGE_QUOTA_BYTES
    rows = _rows(STORAGE_BY_TENANT, {"tenant_id": tenant_id})
    for row in rows:
        row["used"] = int(row["used"])
        row["quota"] = quota
        row["percent"] = round(100 * row["used"] / quota, 1) if quota else None
    return rows


def cleanup_runs(*, tenant_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    return _rows(CLEANUP_RUNS, {"tenant_id": tenant_id, "limit": limit})


def preflight_results() -> list[PreflightResult]:
    """The last result of each preflight check, by name."""
    return list(PreflightResult.objects.using("system").order_by("name"))


# Alert rules.


def failure_rates(*, minutes: int) -> list[dict[str, Any]]:
    return _rows(jobs_sql.FAILURE_RATES, {"minutes": minutes})


def dead_letters_since(*, minutes: int) -> int:
    """Dead letters recorded in the last `minutes` and still open (a retry, replay or discard resolves them)."""
    return int(_one(jobs_sql.OPEN_DEAD_LETTERS_SINCE, {"minutes": minutes, "tenant_id": None}))


def disabled_endpoints() -> list[dict[str, Any]]:
    return _rows(
        """
        SELECT e.id, e.tenant_id, t.slug, e.disabled_reason AS reason FROM webhooks_webhookendpoint e
        JOIN tenants_tenant t ON t.id = e.tenant_id WHERE NOT e.enabled AND e.disabled_reason <> 'manual'
        """
    )


# Metrics.


def open_alerts_by_rule() -> list[tuple[str, int]]:
    return [
        (row["rule"], row["count"])
        for row in _rows("SELECT rule, count(*) AS count FROM ops_alert WHERE status <> 'resolved' GROUP BY rule")
    ]


def last_rollup() -> list[dict[str, Any]]:
    return _rows(
        """
        SELECT queue, sum(finished) AS finished, sum(failures) AS failures, max(wait_p95) AS wait_p95,
            max(run_p50) AS run_p50, max(run_p95) AS run_p95, max(run_p99) AS run_p99
        FROM ops_minuterollup WHERE minute = (SELECT max(minute) FROM ops_minuterollup WHERE finished > 0)
        GROUP BY queue
        """
    )


def webhook_deliveries_by_status() -> list[tuple[str, int]]:
    return [
        (row["status"], row["count"])
        for row in _rows("SELECT status, count(*) AS count FROM webhooks_webhookdelivery GROUP BY status")
    ]


# Workers.


@dataclass
class WorkerRow:
    identity: str  # host:pid, as jobs.worker.run.worker_identity() writes locked_by
    name: str
    queues: list[str]
    state: str
    started: datetime | None
    last_heartbeat: datetime | None
    live: bool
    leases: list[dict[str, Any]] = field(default_factory=list)
    job_types: list[str] = field(default_factory=list)  # what it can run (jobs.worker.presence)
    quiet: bool = False  # told to take no new wake-up (jobs.worker.commands)


def workers(*, limit: int = 500) -> list[WorkerRow]:
    """RQ's registered workers with the job types each knows and the leases each holds, then one row per identity
    that holds leases but is not registered (its heartbeat stopped): the leases it left behind."""
    from rq import Worker

    from ballast.jobs.worker import commands
    from ballast.jobs.worker.presence import live_seconds

    known = {
        row["identity"]: row["job_types"]
        for row in _rows(jobs_sql.LIVE_WORKER_PRESENCE, {"live_seconds": live_seconds()})
    }
    rows: dict[str, WorkerRow] = {}
    try:
        connection = wakeups.redis_connection()
        for worker in Worker.all(connection=connection):
            identity = f"{worker.hostname}:{worker.pid}"
            rows[identity] = WorkerRow(
                identity=identity,
                name=worker.name,
                queues=[policy.queue_named(name) or name for name in worker.queue_names()],
                state=str(worker.get_state()),
                started=worker.birth_date,
                last_heartbeat=worker.last_heartbeat,
                live=True,
                job_types=sorted(known.get(identity) or []),
                quiet=commands.is_quiet(connection, worker.name),
            )
    except Exception:  # Redis down: the leases still show
        rows = {}
    for lease in _rows(jobs_sql.RUNNING_LEASES, {"limit": limit}):
        identity = lease["locked_by"]
        if identity not in rows:
            rows[identity] = WorkerRow(identity, "", [], "heartbeat stopped", None, None, live=False)
        rows[identity].leases.append(lease)
    return sorted(rows.values(), key=lambda row: (row.live, row.identity))


# Jobs browser.


def jobs(where: JobFilter, *, before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return _rows(jobs_sql.JOBS_FILTERED, {**where.params(), "before": before, "limit": limit})


BULK_LISTED = 50


def bulk_operation(bulk_id: int) -> dict[str, Any] | None:
    """A bulk operation with its filter in words and the first BULK_LISTED jobs it matched, as they are now."""
    from ballast.jobs.bulk import filter_in_words
    from ballast.jobs.models import BulkOperation

    operation = BulkOperation.objects.using("system").filter(pk=bulk_id).first()
    if operation is None:
        return None
    ids = [job_id for _, job_id in operation.matched[:BULK_LISTED]]
    names = dict(tenant_choices())
    return {
        "operation": operation,
        "filter_words": filter_in_words(operation.filter, tenant_names=names),
        "jobs": _rows(jobs_sql.JOBS_BY_IDS, {"ids": ids}) if ids else [],
        "more": max(0, operation.count - len(ids)),
    }


def job_detail(job_id: int) -> dict[str, Any] | None:
    from ballast.jobs.actions import offered
    from ballast.jobs.models import Batch, Checkpoint, DeadLetter, Job, JobAttempt
    from ballast.outbox.selectors import event_chain
    from ballast.tenants.context import tenant_scope

    job = Job.objects.unscoped().filter(pk=job_id).select_related("tenant").first()
    if job is None:
        return None
    attempts = list(JobAttempt.objects.unscoped().filter(job_id=job_id).order_by("attempt"))
    checkpoints = Checkpoint.objects.unscoped().filter(job_id=job_id).order_by("-sequence")
    last = checkpoints.first()
    with tenant_scope(job.tenant_id):
        chain = event_chain(job.created_event_id)
    flat: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]], depth: int) -> None:
        for node in nodes:
            event = node["event"]
            flat.append(
                {
                    "depth": depth,
                    "type": event["type"],
                    "id": event["id"],
                    "status": node["status"],
                    "subject": event.get("subject", ""),
                    "time": event.get("time", ""),
                }
            )
            walk(node["children"], depth + 1)

    walk(chain["roots"] if chain else [], 0)
    chain_span_ms = _time_between(flat)
    open_letters = DeadLetter.objects.unscoped().filter(job_id=job_id, status=DeadLetter.Status.RECORDED).count()
    return {
        "controls": offered(status=job.status, cancel_requested=job.cancel_requested, open_dead_letters=open_letters),
        "open_dead_letters": open_letters,
        "job": job,
        "payload": json.dumps(job.payload, sort_keys=True)[:5000],
        "attempts": attempts,
        "checkpoint_count": checkpoints.count(),
        "last_checkpoint": last,
        "checkpoints": _checkpoint_steps(list(checkpoints[:TIMELINE_CHECKPOINTS]), attempts),
        "chain": flat,
        "chain_span_ms": chain_span_ms,
        "correlation_id": chain["correlation_id"] if chain else job.correlation_id,
        "batch": Batch.objects.unscoped().filter(pk=job.batch_id).first() if job.batch_id else None,
    }


TIMELINE_CHECKPOINTS = 100


def _ms_between(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return (later - earlier).total_seconds() * 1000


def _time_between(events: list[dict[str, Any]]) -> float | None:
    """Each event of a chain gets its time after the chain's first event and after the event before it (in
    time, whatever the tree's order); returns the chain's span, first event to last."""
    for event in events:
        event["at"] = datetime.fromisoformat(event["time"]) if event["time"] else None
    timed = sorted((event for event in events if event["at"]), key=lambda event: (event["at"], event["id"]))
    first = timed[0]["at"] if timed else None
    previous: datetime | None = None
    for event in timed:
        event["after_start_ms"] = _ms_between(first, event["at"])
        event["after_previous_ms"] = _ms_between(previous, event["at"])
        previous = event["at"]
    return _ms_between(first, previous)


def _checkpoint_steps(latest_first: list[Any], attempts: list[Any]) -> list[dict[str, Any]]:
    """The latest checkpoints in order, each with its time after its attempt's start and after the step before."""
    started = {attempt.attempt: attempt.started_at for attempt in attempts}
    steps: list[dict[str, Any]] = []
    previous: Any = None
    for checkpoint in reversed(latest_first):
        same_attempt = previous is not None and previous.attempt == checkpoint.attempt
        steps.append(
            {
                "sequence": checkpoint.sequence,
                "attempt": checkpoint.attempt,
                "at": checkpoint.created_at,
                "after_attempt_start_ms": _ms_between(started.get(checkpoint.attempt), checkpoint.created_at),
                "after_previous_ms": _ms_between(previous.created_at, checkpoint.created_at) if same_attempt else None,
                "state": json.dumps(checkpoint.state, sort_keys=True)[:300],
            }
        )
        previous = checkpoint
    return steps


def slow_chains(*, window: str, tenant_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The correlations whose event chains took longest, first event to last, among those with events in the
    window (one of rollups.WINDOWS)."""
    from ballast.ops.rollups import WINDOWS
    from ballast.outbox.selectors import slow_chains as outbox_slow_chains

    span, _ = WINDOWS[window]
    found = outbox_slow_chains(span=span, tenant_id=tenant_id, limit=limit)
    names = dict(tenant_choices())
    for row in found:
        row["tenant"] = names.get(row["tenant_id"], f"#{row['tenant_id']}")
    return found


@dataclass
class WakeupQueue:
    queue: str
    waiting: int  # wake-up messages not yet taken by a worker
    failed: int  # wake-ups whose run raised (RQ's failed registry); the job itself is in Postgres
    workers: int


def wakeup_queues(*, listening: dict[str, int]) -> list[WakeupQueue] | None:
    """What Ballast's RQ queues hold: wake-ups only ("queue Q of tenant T has due work"), never jobs; with the
    workers `listening` on each (the snapshot's count). One pipelined round trip; None when Redis cannot answer."""
    from rq.registry import FailedJobRegistry

    names = [name for name in policy.QUEUES if name not in policy.SCHEDULER_QUEUES]
    try:
        with wakeups.redis_connection().pipeline(transaction=False) as pipe:
            for name in names:
                queue = wakeups.rq_queue(name)
                pipe.llen(queue.key)
                pipe.zcard(FailedJobRegistry(queue=queue).key)
            counts = [int(value) for value in pipe.execute()]
    except Exception:
        return None
    return [WakeupQueue(name, counts[2 * i], counts[2 * i + 1], listening.get(name, 0)) for i, name in enumerate(names)]


@dataclass
class ScheduleRow:
    schedule: Any  # ballast.jobs.models.Schedule
    tenant: str
    last_status: str | None  # the status of its last job now; None without one (or once it is gone)


def schedules(*, tenant_id: int | None = None, limit: int = 500) -> list[ScheduleRow]:
    """Every schedule, operators' and those declared in code, soonest next run first (paused ones last), with the
    status of each one's last job: three queries."""
    from ballast.jobs.models import Job, Schedule

    found = Schedule.objects.unscoped().order_by(F("next_run_at").asc(nulls_last=True), "name")
    if tenant_id is not None:
        found = found.filter(tenant_id=tenant_id)
    rows = list(found[:limit])
    last_ids = [row.last_job_id for row in rows if row.last_job_id is not None]
    statuses = dict(Job.objects.unscoped().filter(pk__in=last_ids).values_list("pk", "status")) if last_ids else {}
    names = dict(tenant_choices())
    return [
        ScheduleRow(
            schedule=row,
            tenant=names.get(row.tenant_id, str(row.tenant_id)),
            last_status=statuses.get(row.last_job_id) if row.last_job_id is not None else None,
        )
        for row in rows
    ]


def schedule_runs(schedule_id: int, *, limit: int = 20) -> dict[str, Any] | None:
    """One schedule and its last `limit` jobs (its slots and its runs now), newest first."""
    from ballast.jobs.models import Job, Schedule
    from ballast.jobs.schedules import history_prefix

    schedule = Schedule.objects.unscoped().filter(pk=schedule_id).first()
    if schedule is None:
        return None
    prefix = history_prefix(schedule.pk)
    runs = list(
        Job.objects.unscoped()
        .filter(tenant_id=schedule.tenant_id, idempotency_key__startswith=prefix)
        .order_by("-created_at", "-id")
        .values("id", "status", "idempotency_key", "created_at", "finished_at", "attempts", "last_error")[:limit]
    )
    for run in runs:
        slot = run.pop("idempotency_key")[len(prefix) :]
        run["trigger"] = "run now" if slot.startswith("now:") else f"slot {slot}"
    return {"schedule": schedule, "runs": runs}


BATCH_STATES = ("running", "finished")


@dataclass
class BatchRow:
    batch: Any  # ballast.jobs.models.Batch
    tenant: str
    members: dict[str, int]  # members per job status now
    callbacks: list[tuple[str, int, str]]  # (on_complete | on_success, job id, its status now)

    @property
    def ended(self) -> int:
        return int(self.batch.succeeded + self.batch.failed + self.batch.cancelled)

    @property
    def percent(self) -> int:
        return int(100 * self.ended / self.batch.total) if self.batch.total else 100


def batches(*, tenant_id: int | None = None, state: str = "", limit: int = 200) -> list[BatchRow]:
    """The newest batches (`state`: running or finished) with their members per status and their callbacks'
    status: three queries."""
    from ballast.jobs.models import Batch, Job

    found = Batch.objects.unscoped().order_by("-created_at", "-id")
    if tenant_id is not None:
        found = found.filter(tenant_id=tenant_id)
    if state:
        found = found.filter(finished_at__isnull=state == "running")
    rows = list(found[:limit])
    members: dict[int, dict[str, int]] = {row.pk: {} for row in rows}
    grouped = Job.objects.unscoped().filter(batch_id__in=list(members)).values_list("batch_id", "status")
    for batch_id, status, count in grouped.annotate(count=Count("id")):
        members[batch_id][status] = count
    callback_ids = [i for row in rows for i in (row.on_complete_job_id, row.on_success_job_id) if i is not None]
    statuses = (
        dict(Job.objects.unscoped().filter(pk__in=callback_ids).values_list("pk", "status")) if callback_ids else {}
    )
    names = dict(tenant_choices())
    return [
        BatchRow(
            batch=row,
            tenant=names.get(row.tenant_id, str(row.tenant_id)),
            members=members[row.pk],
            callbacks=[
                (kind, job_id, statuses.get(job_id, "gone"))
                for kind, job_id in (("on_complete", row.on_complete_job_id), ("on_success", row.on_success_job_id))
                if job_id is not None
            ],
        )
        for row in rows
    ]


def batch_members(batch_id: int, *, limit: int = 100) -> dict[str, Any] | None:
    """One batch and its first `limit` members."""
    from ballast.jobs.models import Batch, Job

    batch = Batch.objects.unscoped().filter(pk=batch_id).first()
    if batch is None:
        return None
    jobs = Job.objects.unscoped().filter(tenant_id=batch.tenant_id, batch_id=batch.pk).order_by("id")
    return {"batch": batch, "members": list(jobs.values("id", "job_type", "status", "attempts", "finished_at")[:limit])}
