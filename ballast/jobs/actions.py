"""The operator's operations on jobs (Zulip's zerver/actions): retry, cancel, discard, replay dead letters, run now,
pause, resume, bulk actions over a filter (preview, then confirm), and quiet or stop a worker. One function each,
called alike by the API (ballast.jobs.views), the console (ballast.ops) and the management commands. Each writes its
change and the job's audit rows in one transaction on the app alias, and one operator log row
(ballast.tenants.audit.record_operator_action) through the system alias in a transaction around it: a failure
of either rolls both back, and the log commits right after the tenant's writes. A worker's command goes through
Redis after its operator row commits.

Who may act is the caller's check (a token's role, a staff user's permission). An `Operator` with a `tenant_id`
is a tenant's API credential: it reaches only its own tenant's jobs of public types; any other job is absent.

    retry_job(by=Operator(actor="user:alice"), job_id=42)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from ballast.jobs import bulk, policy, services, wakeups
from ballast.jobs.models import BulkOperation, DeadLetter, Job, Pause
from ballast.jobs.registry import UnknownJobType, get_handler, public_type_names
from ballast.jobs.scheduler.dispatch import dispatch_pass
from ballast.jobs.states import IllegalTransition
from ballast.jobs.states import JobStatus as S
from ballast.jobs.worker import commands as worker_commands
from ballast.jobs.worker.processing import process_due_jobs
from ballast.lib import redis_client
from ballast.tenants.audit import record_operator_action
from ballast.tenants.context import tenant_scope

APP = "default"  # the app role: the tenant's writes, under row-level security
SYSTEM = "system"  # the operator log and bulk operations: operator-side tables the app role cannot touch

RETRY = "ops.job.retry"
CANCEL = "ops.job.cancel"
DISCARD = "ops.job.discard"
REPLAY = "ops.dead_letters.replay"
RUN_NOW = "ops.queue.run_now"
PAUSE = "ops.queue.pause"
RESUME = "ops.queue.resume"
BULK_PREVIEW = "ops.bulk.preview"
BULK_CONFIRM = "ops.bulk.confirm"
QUIET_WORKER = "ops.worker.quiet"
STOP_WORKER = "ops.worker.stop"


class ActionRefused(ValueError):
    """The action does not apply (wrong state, bad input); the message says why. Nothing was written."""


class TargetNotFound(ActionRefused):
    """No such target, or not one the caller may see."""


@dataclass(frozen=True)
class Operator:
    """Who acts: `actor` is what the audit rows name. `tenant_id`: a tenant's credential, confined to that tenant's
    jobs of public types (None: an operator, any job)."""

    actor: str
    tenant_id: int | None = None


@dataclass
class Outcome:
    message: str  # what happened, in a sentence
    data: dict[str, Any] = field(default_factory=dict)


def offered(*, status: str, cancel_requested: bool, open_dead_letters: int) -> list[str]:
    """The operations that apply to a job in this state, in the order a page shows them: only moves the state
    machine has (no cancel of a failed job)."""
    found = []
    if status in (S.FAILED, S.CANCELLED):
        found.append("retry")
    if status in (S.QUEUED, S.WAITING) or (status == S.RUNNING and not cancel_requested):
        found.append("cancel")
    if status == S.QUEUED or (status in (S.FAILED, S.CANCELLED) and open_dead_letters):
        found.append("discard")
    return found


def visible_jobs(by: Operator) -> Any:
    """The jobs `by` may see and act on (system alias)."""
    jobs = Job.objects.unscoped()
    if by.tenant_id is None:
        return jobs
    return jobs.filter(tenant_id=by.tenant_id, job_type__in=public_type_names())


def _job(job_id: int, by: Operator) -> Job:
    job = visible_jobs(by).filter(pk=job_id).first()
    if job is None:
        raise TargetNotFound(f"There is no job {job_id}.")
    return job


def _log(by: Operator, action: str, *, target_type: str, target_id: object, tenant_id: int | None, **data: Any) -> str:
    return record_operator_action(
        actor=by.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        tenant_id=tenant_id,
        data=data,
        using=SYSTEM,
    )


def _refused(exc: IllegalTransition, what: str) -> ActionRefused:
    return ActionRefused(f"Cannot {what}: {exc}")


def retry_job(*, by: Operator, job_id: int) -> Outcome:
    """A failed or cancelled job runs again (its attempts keep counting); its open dead letters are resolved."""
    job = _job(job_id, by)
    try:
        with transaction.atomic(using=SYSTEM), tenant_scope(job.tenant_id):
            services.retry_job(job=job, actor=by.actor)
            _log(by, RETRY, target_type="job", target_id=job.pk, tenant_id=job.tenant_id, job_type=job.job_type)
    except IllegalTransition as exc:
        raise _refused(exc, f"retry job {job.pk}") from None
    return Outcome(f"Job {job.pk} ({job.job_type}) is queued again.", {"job_id": job.pk})


def cancel_job(*, by: Operator, job_id: int) -> Outcome:
    """Queued: cancelled at once. Running: asked to stop."""
    job = _job(job_id, by)
    try:
        with transaction.atomic(using=SYSTEM), tenant_scope(job.tenant_id):
            job = services.cancel_job(job=job, actor=by.actor)
            _log(by, CANCEL, target_type="job", target_id=job.pk, tenant_id=job.tenant_id, job_type=job.job_type)
    except IllegalTransition as exc:
        raise _refused(exc, f"cancel job {job.pk}") from None
    requested = " (cancel requested)" if job.cancel_requested and job.status != S.CANCELLED else ""
    return Outcome(f"Job {job.pk}: {job.status}{requested}.", {"job_id": job.pk})


def discard_job(*, by: Operator, job_id: int) -> Outcome:
    """A job that should never run (services.discard_job): cancelled if queued, its dead letters closed."""
    job = _job(job_id, by)
    try:
        with transaction.atomic(using=SYSTEM), tenant_scope(job.tenant_id):
            closed = services.discard_job(job=job, actor=by.actor)
            _log(
                by,
                DISCARD,
                target_type="job",
                target_id=job.pk,
                tenant_id=job.tenant_id,
                job_type=job.job_type,
                dead_letters_closed=closed,
            )
    except IllegalTransition as exc:
        raise ActionRefused(
            f"Cannot discard job {job.pk}: it is {exc.current}; only a queued job, or one with an open dead letter, "
            "can be discarded."
        ) from None
    return Outcome(f"Job {job.pk} discarded.", {"job_id": job.pk})


def replay_dead_letters(*, by: Operator, dead_letter_ids: list[int]) -> Outcome:
    """Replay one or many dead letters; each tenant's in one transaction with its operator row."""
    known = DeadLetter.objects.unscoped().filter(pk__in=dead_letter_ids)
    if by.tenant_id is not None:
        known = known.filter(tenant_id=by.tenant_id, job_type__in=public_type_names())
    letters = list(known.filter(status=DeadLetter.Status.RECORDED).order_by("tenant_id", "id"))
    if not letters and not known.exists():
        raise TargetNotFound(f"There is no dead letter {', '.join(map(str, dead_letter_ids))}.")
    if not letters:
        raise ActionRefused("None of these dead letters can be replayed (resolved already).")
    by_tenant: dict[int, list[DeadLetter]] = {}
    for letter in letters:
        by_tenant.setdefault(letter.tenant_id, []).append(letter)
    replayed: list[int] = []
    for tenant_id, group in by_tenant.items():
        with transaction.atomic(using=SYSTEM), tenant_scope(tenant_id):
            done = []
            for letter in group:
                try:
                    with transaction.atomic(using=APP):
                        services.replay_dead_letter(dead_letter=letter, actor=by.actor)
                    done.append(letter.pk)
                except IllegalTransition:
                    continue
            if done:
                _log(
                    by,
                    REPLAY,
                    target_type="dead_letter",
                    target_id=",".join(map(str, done)),
                    tenant_id=tenant_id,
                    count=len(done),
                )
            replayed += done
    if not replayed:
        raise ActionRefused("None of these dead letters could be replayed (their jobs moved on).")
    return Outcome(f"{len(replayed)} dead letter(s) replayed.", {"replayed": replayed})


def run_now(
    *, by: Operator, job_type: str, tenant_id: int | None = None, max_jobs: int = 10, budget_ms: int = 5000
) -> Outcome:
    """Process up to `max_jobs` due jobs of a type (and tenant) now, in this process. The operator row commits
    first; the jobs then run, each in its own transaction."""
    if not 1 <= max_jobs <= 100:
        raise ActionRefused("max_jobs must be between 1 and 100.")
    try:
        get_handler(job_type)
    except UnknownJobType as exc:
        raise ActionRefused(str(exc)) from None
    with transaction.atomic(using=SYSTEM):
        _log(by, RUN_NOW, target_type="job_type", target_id=job_type, tenant_id=tenant_id, max_jobs=max_jobs)
    report = process_due_jobs(max_jobs=max_jobs, budget_ms=budget_ms, tenant_id=tenant_id, job_type=job_type)
    data = {
        "processed": report.processed,
        "succeeded": report.succeeded,
        "retried": report.retried,
        "failed": report.failed,
    }
    return Outcome(
        f"{job_type}: {report.processed} processed, {report.succeeded} succeeded, "
        f"{report.retried} retried, {report.failed} failed.",
        data,
    )


def _check_pausable(kind: str, name: str) -> None:
    if kind not in Pause.Kind.values:
        raise ActionRefused(f"Pause a queue or a type, not {kind!r}.")
    if kind == Pause.Kind.QUEUE and name not in policy.QUEUES:
        raise ActionRefused(f"Unknown queue {name!r}; queues: {', '.join(policy.QUEUES)}.")
    if kind == Pause.Kind.TYPE:
        try:
            get_handler(name)
        except UnknownJobType as exc:
            raise ActionRefused(str(exc)) from None


def pause(*, by: Operator, kind: str, target: str, reason: str = "") -> Outcome:
    """A paused queue or type is not claimed (jobs.pauses): its jobs wait, nothing is lost."""
    _check_pausable(kind, target)
    with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
        _, created = Pause.objects.using(APP).get_or_create(
            kind=kind, name=target, defaults={"paused_by": by.actor, "reason": reason[:500]}
        )
        if not created:
            raise ActionRefused(f"The {kind} {target} is paused already.")
        _log(by, PAUSE, target_type="pause", target_id=f"{kind}:{target}", tenant_id=None, reason=reason)
    return Outcome(f"Paused the {kind} {target}: its jobs wait.")


def resume(*, by: Operator, kind: str, target: str) -> Outcome:
    with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
        deleted, _ = Pause.objects.using(APP).filter(kind=kind, name=target).delete()
        if not deleted:
            raise ActionRefused(f"The {kind} {target} is not paused.")
        _log(by, RESUME, target_type="pause", target_id=f"{kind}:{target}", tenant_id=None)
        # Wake what waited now, rather than at the scheduler's next pass.
        transaction.on_commit(dispatch_pass, using=APP)
    return Outcome(f"Resumed the {kind} {target}.")


def preview_bulk(*, by: Operator, action: str, where: bulk.JobFilter) -> Outcome:
    """Record every job the filter matches now, and their count, for a confirmation to act on."""
    if action not in bulk.ACTIONS:
        raise ActionRefused(f"Bulk action must be one of {', '.join(bulk.ACTIONS)}, not {action!r}.")
    with transaction.atomic(using=SYSTEM):
        operation = bulk.preview(action=action, where=where, actor=by.actor)
        _log(
            by,
            BULK_PREVIEW,
            target_type="bulk_operation",
            target_id=operation.pk,
            tenant_id=None,
            filter=operation.filter,
            count=operation.count,
            bulk_action=action,
        )
    return Outcome(f"{operation.count} job(s) match: confirm to {action} them.", {"bulk_id": operation.pk})


def confirm_bulk(*, by: Operator, bulk_id: int) -> Outcome:
    """Start a previewed bulk action: one `ops.bulk` job per tenant works through its matched jobs."""
    with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
        operation = BulkOperation.objects.using(SYSTEM).select_for_update().filter(pk=bulk_id).first()
        if operation is None:
            raise TargetNotFound(f"There is no bulk operation {bulk_id}.")
        if operation.status != BulkOperation.Status.PREVIEWED:
            raise ActionRefused(f"Bulk operation {operation.pk} is {operation.status} already.")
        operation.status = BulkOperation.Status.RUNNING if operation.count else BulkOperation.Status.DONE
        operation.confirmed_by, operation.confirmed_at = by.actor, timezone.now()
        if not operation.count:
            operation.finished_at = operation.confirmed_at
        operation.save(using=SYSTEM)
        _log(
            by,
            BULK_CONFIRM,
            target_type="bulk_operation",
            target_id=operation.pk,
            tenant_id=None,
            filter=operation.filter,
            count=operation.count,
            bulk_action=operation.action,
        )
        for tenant_id in sorted({tenant for tenant, _ in operation.matched}):
            services.enqueue(
                tenant=tenant_id,
                job_type=bulk.JOB_TYPE,
                payload={"bulk_id": operation.pk},
                idempotency_key=f"{bulk.JOB_TYPE}:{operation.pk}",
                actor=by.actor,
            )
    return Outcome(f"{operation.action.capitalize()} of {operation.count} job(s) started.", {"bulk_id": operation.pk})


def _command_worker(by: Operator, action: str, worker_name: str, send: Any) -> str:
    """Check the worker is registered, commit the operator row, then send the command through Redis."""
    if by.tenant_id is not None:
        raise TargetNotFound(f"There is no worker {worker_name!r}.")
    try:
        connection = wakeups.redis_connection()
        worker = worker_commands.registered(connection, worker_name) if worker_name else None
        if worker is None:
            raise TargetNotFound(f"There is no live worker {worker_name!r} (stopped already, or never started).")
        identity = f"{worker.hostname}:{worker.pid}"
        with transaction.atomic(using=SYSTEM):
            _log(by, action, target_type="worker", target_id=worker_name, tenant_id=None, identity=identity)
        send(connection, worker_name)
    except redis_client.REDIS_DOWN as exc:
        raise ActionRefused(f"Redis is unreachable, so no worker can be told anything now ({exc}).") from None
    return identity


def quiet_worker(*, by: Operator, worker_name: str) -> Outcome:
    """The worker takes no new wake-up (jobs.worker.commands.quiet); the job it runs finishes. Until it stops."""
    identity = _command_worker(by, QUIET_WORKER, worker_name, worker_commands.quiet)
    return Outcome(f"Worker {identity} is quiet: it takes no new job.", {"worker": worker_name})


def stop_worker(*, by: Operator, worker_name: str) -> Outcome:
    """The worker finishes the job it runs, then exits (RQ's warm shutdown)."""
    identity = _command_worker(by, STOP_WORKER, worker_name, worker_commands.stop)
    return Outcome(f"Worker {identity} stops once its running job is done.", {"worker": worker_name})
