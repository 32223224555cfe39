"""Operator actions as objects (the Wagtail actions pattern): the console, the API and commands all go through
them. `check(actor)` raises ActionForbidden unless the user may act; `execute()` does the work in one
transaction together with one registered OperatorAction row (actor, target, trace id).

    action = RetryJob(job_id=42)
    action.check(request.user)
    outcome = action.execute()
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from ballast.jobs import services as jobs_services
from ballast.jobs.models import DeadLetter, Job, Pause
from ballast.jobs.operator_actions import ActionRefused, Caller, TargetNotFound
from ballast.jobs.registry import UnknownJobType, get_handler
from ballast.jobs.scheduler.dispatch import dispatch_pass
from ballast.jobs.states import IllegalTransition
from ballast.jobs.states import JobStatus as S
from ballast.jobs.transitions import NOW, transition
from ballast.jobs.worker.processing import process_due_jobs
from ballast.jobs.worker.run import run_now
from ballast.lib import tracing
from ballast.ops import alerts, bulk, selectors
from ballast.ops.models import Alert, BulkOperation, OperatorAction
from ballast.tenants.audit import actor_for_user, record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Role, Tenant
from ballast.uploads.scheduling import JOB_TYPES as CLEANUP_TYPES
from ballast.uploads.scheduling import schedule_cleanup

VIEW = "ops.view_console"
OPERATE_QUEUE = "ops.operate_queue"
OPERATE_UPLOADS = "ops.operate_uploads"
APP = "default"  # the app role: the operator row joins the transaction of the tenant's writes

REGISTERED: dict[str, type[OperatorActionBase]] = {}


class ActionForbidden(PermissionDenied):
    """The user may not perform this action; the message says which permission is missing."""


__all__ = ["ActionForbidden", "ActionRefused", "Caller", "TargetNotFound"]  # beside the action classes


@dataclass
class Outcome:
    message: str
    data: dict[str, Any] = field(default_factory=dict)


class OperatorActionBase:
    name: ClassVar[str]  # the audit action, e.g. "ops.job.retry"
    permission: ClassVar[str]
    target_type: ClassVar[str]

    # Whether an API credential may run it on its own tenant's jobs (check_caller); staff actions only otherwise.
    tenant_callable: ClassVar[bool] = False

    actor: str = ""
    confined_to: int | None = None  # the tenant an API caller may touch (None: any)
    _checked: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an abstract intermediate (_AlertAction)
        if cls.name in REGISTERED:
            raise RuntimeError(f"operator action {cls.name!r} registered twice")
        REGISTERED[cls.name] = cls

    def check(self, user: Any) -> None:
        if user is None or not user.is_active or not user.is_staff:
            raise ActionForbidden("Only active staff users may perform operator actions.")
        for permission in (VIEW, self.permission):
            if not user.has_perm(permission):
                raise ActionForbidden(f"{user.get_username()} lacks the permission {permission} for {self.name}.")
        self.actor = actor_for_user(user)
        self._checked = True

    def check_caller(self, caller: Caller) -> None:
        """An entry point that authenticated its caller itself (jobs.operator_actions): a shell operator, or an
        API credential, confined to its tenant, of a role that may write, and only for tenant_callable actions."""
        if not caller.actor:
            raise ActionForbidden(f"{self.name}: the caller has no name to audit.")
        if caller.tenant_id is not None:
            if not self.tenant_callable:
                raise ActionForbidden(f"{self.name} is for operators, not API credentials.")
            if caller.role is None or caller.role == Role.VIEWER:
                raise ActionForbidden(f"A {caller.role or 'roleless'} credential may not {self.name}.")
        self.actor, self.confined_to = caller.actor, caller.tenant_id
        self._checked = True

    def execute(self) -> Outcome:
        if not self._checked:
            raise ActionForbidden(f"{self.name}: check(actor) must pass before execute()")
        return self.perform()

    def perform(self) -> Outcome:
        raise NotImplementedError

    def audit(self, *, target_id: object, tenant_id: int | None = None, **data: Any) -> str:
        """The action's one OperatorAction row, in the caller's transaction; returns its trace id."""
        trace_id = tracing.current().trace_id or uuid.uuid4().hex
        OperatorAction.objects.using(APP).create(
            actor=self.actor,
            action=self.name,
            target_type=self.target_type,
            target_id=str(target_id),
            tenant_id=tenant_id,
            trace_id=trace_id,
            data=data,
        )
        return trace_id


def _job(job_id: int, *, confined_to: int | None = None) -> Job:
    jobs = Job.objects.unscoped().filter(pk=job_id)
    job = (jobs if confined_to is None else jobs.filter(tenant_id=confined_to)).first()
    if job is None:
        raise TargetNotFound(f"There is no job {job_id}.")
    return job


def _tenant_id(slug_or_id: str | int | None) -> int | None:
    if slug_or_id is None or slug_or_id == "":
        return None
    text = str(slug_or_id)
    query = Tenant.objects.using("system")
    found = (query.filter(pk=int(text)) if text.isdigit() else query.filter(slug=text)).first()
    if found is None:
        raise ActionRefused(f"There is no tenant {slug_or_id!r}.")
    return found.pk


def _illegal(exc: IllegalTransition, what: str) -> ActionRefused:
    return ActionRefused(f"Cannot {what}: {exc}")


@dataclass
class RetryJob(OperatorActionBase):
    name: ClassVar[str] = "ops.job.retry"
    permission: ClassVar[str] = OPERATE_QUEUE
    tenant_callable: ClassVar[bool] = True
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        job = _job(self.job_id, confined_to=self.confined_to)
        try:
            with tenant_scope(job.tenant_id):
                jobs_services.retry_job(job=job, actor=self.actor)
                self.audit(target_id=job.pk, tenant_id=job.tenant_id, job_type=job.job_type)
        except IllegalTransition as exc:
            raise _illegal(exc, f"retry job {job.pk}") from None
        return Outcome(f"Job {job.pk} ({job.job_type}) is queued again.")


@dataclass
class CancelJob(OperatorActionBase):
    name: ClassVar[str] = "ops.job.cancel"
    permission: ClassVar[str] = OPERATE_QUEUE
    tenant_callable: ClassVar[bool] = True
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        job = _job(self.job_id, confined_to=self.confined_to)
        try:
            with tenant_scope(job.tenant_id):
                job = jobs_services.cancel_job(job=job, actor=self.actor)
                self.audit(target_id=job.pk, tenant_id=job.tenant_id, job_type=job.job_type)
        except IllegalTransition as exc:
            raise _illegal(exc, f"cancel job {job.pk}") from None
        return Outcome(f"Job {job.pk}: {job.status}{' (cancel requested)' if job.cancel_requested else ''}.")


@dataclass
class DiscardJob(OperatorActionBase):
    """A queued job that should never run: cancelled, and its dead letter (if any) closed, without replay."""

    name: ClassVar[str] = "ops.job.discard"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        job = _job(self.job_id, confined_to=self.confined_to)
        with tenant_scope(job.tenant_id):
            if job.status == S.QUEUED:
                if not transition(
                    job.pk, current=S.QUEUED, target=S.CANCELLED, values={"finished_at": NOW, "cancel_requested": True}
                ):
                    raise ActionRefused(f"Job {job.pk} is no longer queued.")
            elif job.status not in (S.FAILED, S.CANCELLED):
                raise ActionRefused(
                    f"Cannot discard job {job.pk}: it is {job.status} (queued, failed or cancelled only)."
                )
            closed = DeadLetter.objects.filter(job_id=job.pk, status=DeadLetter.Status.RECORDED).update(
                status=DeadLetter.Status.REPLAYED, replayed_at=timezone.now()
            )
            record(
                tenant_id=job.tenant_id,
                actor=self.actor,
                action="job.discarded",
                target_type="job",
                target_id=job.pk,
                trace_id=job.trace_id,
            )
            self.audit(target_id=job.pk, tenant_id=job.tenant_id, job_type=job.job_type, dead_letters_closed=closed)
        return Outcome(f"Job {job.pk} discarded.")


@dataclass
class ReplayDeadLetters(OperatorActionBase):
    """Replay one or many dead letters; each tenant's in one transaction with its audit row."""

    name: ClassVar[str] = "ops.dead_letters.replay"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "dead_letter"
    tenant_callable: ClassVar[bool] = True
    dead_letter_ids: list[int] = field(default_factory=list)

    def perform(self) -> Outcome:
        known = DeadLetter.objects.unscoped().filter(pk__in=self.dead_letter_ids)
        if self.confined_to is not None:
            known = known.filter(tenant_id=self.confined_to)
        letters = list(known.filter(status=DeadLetter.Status.RECORDED).order_by("tenant_id", "id"))
        if not letters and not known.exists():
            raise TargetNotFound(f"There is no dead letter {', '.join(map(str, self.dead_letter_ids))}.")
        if not letters:
            raise ActionRefused("None of these dead letters can be replayed (unknown or replayed already).")
        by_tenant: dict[int, list[DeadLetter]] = {}
        for letter in letters:
            by_tenant.setdefault(letter.tenant_id, []).append(letter)
        replayed: list[int] = []
        for tenant_id, group in by_tenant.items():
            with tenant_scope(tenant_id):
                done = []
                for letter in group:
                    try:
                        with transaction.atomic(using=APP):
                            jobs_services.replay_dead_letter(dead_letter=letter, actor=self.actor)
                        done.append(letter.pk)
                    except IllegalTransition:
                        continue
                if done:
                    self.audit(target_id=",".join(map(str, done)), tenant_id=tenant_id, count=len(done))
                replayed += done
        if not replayed:
            raise ActionRefused("None of these dead letters could be replayed (their jobs moved on).")
        return Outcome(f"{len(replayed)} dead letter(s) replayed.", {"replayed": replayed})


@dataclass
class RunNow(OperatorActionBase):
    """Process up to `max_jobs` due jobs of a type (and tenant) now, in this process (as queue/process does).
    The audit row commits first; the jobs then run, each in its own transaction."""

    name: ClassVar[str] = "ops.queue.run_now"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job_type"
    job_type: str = ""
    tenant: str | int | None = None
    max_jobs: int = 10
    budget_ms: int = 5000

    def perform(self) -> Outcome:
        if not 1 <= self.max_jobs <= 100:
            raise ActionRefused("max_jobs must be between 1 and 100.")
        try:
            get_handler(self.job_type)
        except UnknownJobType as exc:
            raise ActionRefused(str(exc)) from None
        tenant_id = _tenant_id(self.tenant)
        with transaction.atomic(using=APP):
            self.audit(target_id=self.job_type, tenant_id=tenant_id, max_jobs=self.max_jobs)
        report = process_due_jobs(
            max_jobs=self.max_jobs, budget_ms=self.budget_ms, tenant_id=tenant_id, job_type=self.job_type
        )
        data = {
            "processed": report.processed,
            "succeeded": report.succeeded,
            "retried": report.retried,
            "failed": report.failed,
        }
        return Outcome(
            f"{self.job_type}: {report.processed} processed, {report.succeeded} succeeded, "
            f"{report.retried} retried, {report.failed} failed.",
            data,
        )


def _check_pausable(kind: str, name: str) -> None:
    from ballast.jobs import policy

    if kind == Pause.Kind.QUEUE and name not in policy.QUEUES:
        raise ActionRefused(f"Unknown queue {name!r}; queues: {', '.join(policy.QUEUES)}.")
    if kind == Pause.Kind.TYPE:
        try:
            get_handler(name)
        except UnknownJobType as exc:
            raise ActionRefused(str(exc)) from None
    if kind not in Pause.Kind.values:
        raise ActionRefused(f"Pause a queue or a type, not {kind!r}.")


@dataclass
class PauseJobs(OperatorActionBase):
    """A paused queue or type is not claimed (jobs.pauses): its jobs wait, nothing is lost."""

    name: ClassVar[str] = "ops.queue.pause"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "pause"
    kind: str = Pause.Kind.TYPE
    target: str = ""
    reason: str = ""

    def perform(self) -> Outcome:
        _check_pausable(self.kind, self.target)
        with transaction.atomic(using=APP):
            _, created = Pause.objects.using(APP).get_or_create(
                kind=self.kind, name=self.target, defaults={"paused_by": self.actor, "reason": self.reason[:500]}
            )
            if not created:
                raise ActionRefused(f"The {self.kind} {self.target} is paused already.")
            self.audit(target_id=f"{self.kind}:{self.target}", reason=self.reason)
        return Outcome(f"Paused the {self.kind} {self.target}: its jobs wait.")


@dataclass
class ResumeJobs(OperatorActionBase):
    name: ClassVar[str] = "ops.queue.resume"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "pause"
    kind: str = Pause.Kind.TYPE
    target: str = ""

    def perform(self) -> Outcome:
        with transaction.atomic(using=APP):
            deleted, _ = Pause.objects.using(APP).filter(kind=self.kind, name=self.target).delete()
            if not deleted:
                raise ActionRefused(f"The {self.kind} {self.target} is not paused.")
            self.audit(target_id=f"{self.kind}:{self.target}")
            # Wake what waited now, rather than at the scheduler's next pass.
            transaction.on_commit(dispatch_pass, using=APP)
        return Outcome(f"Resumed the {self.kind} {self.target}.")


@dataclass
class EnqueueCleanup(OperatorActionBase):
    """The tenant's upload cleanup job (uploads.scheduling): a new one, or the stuck one brought forward or taken
    back, never a second. With `run_now`, it then runs in this process."""

    name: ClassVar[str] = "ops.uploads.cleanup"
    permission: ClassVar[str] = OPERATE_UPLOADS
    target_type: ClassVar[str] = "tenant"
    tenant: str | int = ""
    job_type: str = CLEANUP_TYPES[0]
    run_now: bool = False

    def perform(self) -> Outcome:
        if self.job_type not in CLEANUP_TYPES:
            raise ActionRefused(f"Unknown cleanup {self.job_type!r}; one of {', '.join(CLEANUP_TYPES)}.")
        tenant_id = _tenant_id(self.tenant)
        if tenant_id is None:
            raise ActionRefused("Name the tenant to clean up.")
        with tenant_scope(tenant_id):
            job = schedule_cleanup(tenant_id=tenant_id, job_type=self.job_type, actor=self.actor)
            self.audit(
                target_id=tenant_id, tenant_id=tenant_id, job_id=job.pk, job_type=self.job_type, now=self.run_now
            )
        data: dict[str, Any] = {"job_id": job.pk, "created": job.created}
        if not self.run_now:
            return Outcome(f"Cleanup job {job.pk} is queued{' (new)' if job.created else ''}.", data)
        report = run_now(job.pk)
        job.refresh_from_db(using="system")
        data |= {"ran": report.claimed, "status": job.status}
        if not report.claimed:
            return Outcome(f"Cleanup job {job.pk} could not run now: it is {job.status} (held by a live worker).", data)
        return Outcome(f"Cleanup job {job.pk} ran: {job.status}.", data)


@dataclass
class _AlertAction(OperatorActionBase):
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "alert"
    allowed_from: ClassVar[tuple[str, ...]] = ()
    alert_id: int = 0

    def _alert(self) -> Alert:
        alert = Alert.objects.using(APP).select_for_update().filter(pk=self.alert_id).first()
        if alert is None:
            raise ActionRefused(f"There is no alert {self.alert_id}.")
        if alert.status not in self.allowed_from:
            raise ActionRefused(f"Alert {alert.pk} is {alert.status}; cannot {self.name.rsplit('.', 1)[-1]} it.")
        return alert


@dataclass
class AcknowledgeAlert(_AlertAction):
    name: ClassVar[str] = "ops.alert.acknowledge"
    allowed_from: ClassVar[tuple[str, ...]] = (Alert.Status.OPEN,)

    def perform(self) -> Outcome:
        with transaction.atomic(using=APP):
            alert = self._alert()
            alert.status, alert.acknowledged_at, alert.acknowledged_by = (
                Alert.Status.ACKNOWLEDGED,
                timezone.now(),
                self.actor,
            )
            alert.save(using=APP, update_fields=["status", "acknowledged_at", "acknowledged_by"])
            self.audit(target_id=alert.pk, tenant_id=alert.tenant_id, rule=alert.rule)
            alerts.announce(alert, "acknowledged", actor=self.actor)
        return Outcome(f"Alert {alert.pk} acknowledged.")


@dataclass
class SnoozeAlert(_AlertAction):
    name: ClassVar[str] = "ops.alert.snooze"
    allowed_from: ClassVar[tuple[str, ...]] = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)
    minutes: int = 60

    def perform(self) -> Outcome:
        if not 1 <= self.minutes <= 7 * 24 * 60:
            raise ActionRefused("Snooze for 1 minute to 7 days.")
        with transaction.atomic(using=APP):
            alert = self._alert()
            until: datetime = timezone.now() + timedelta(minutes=self.minutes)
            alert.snoozed_until = until
            alert.save(using=APP, update_fields=["snoozed_until"])
            self.audit(target_id=alert.pk, tenant_id=alert.tenant_id, until=until.isoformat())
            alerts.announce(alert, "snoozed", actor=self.actor)
        return Outcome(f"Alert {alert.pk} snoozed until {until:%Y-%m-%d %H:%M} UTC.")


@dataclass
class ResolveAlert(_AlertAction):
    name: ClassVar[str] = "ops.alert.resolve"
    allowed_from: ClassVar[tuple[str, ...]] = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)

    def perform(self) -> Outcome:
        with transaction.atomic(using=APP):
            alert = self._alert()
            alert.status, alert.resolved_at, alert.resolved_by = Alert.Status.RESOLVED, timezone.now(), self.actor
            alert.save(using=APP, update_fields=["status", "resolved_at", "resolved_by"])
            self.audit(target_id=alert.pk, tenant_id=alert.tenant_id, rule=alert.rule)
            alerts.announce(alert, "resolved", actor=self.actor)
        return Outcome(f"Alert {alert.pk} resolved.")


@dataclass
class PreviewBulk(OperatorActionBase):
    """Record every job the filter matches now, and their count, for a confirmation to act on."""

    name: ClassVar[str] = "ops.bulk.preview"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "bulk_operation"
    action: str = "retry"
    where: selectors.JobFilter = field(default_factory=selectors.JobFilter)

    def perform(self) -> Outcome:
        if self.action not in bulk.ACTIONS:
            raise ActionRefused(f"Bulk action must be one of {', '.join(bulk.ACTIONS)}, not {self.action!r}.")
        with transaction.atomic(using=APP):
            operation = bulk.preview(action=self.action, where=self.where, actor=self.actor)
            self.audit(target_id=operation.pk, filter=operation.filter, count=operation.count, bulk_action=self.action)
        return Outcome(f"{operation.count} job(s) match: confirm to {self.action} them.", {"bulk_id": operation.pk})


@dataclass
class ConfirmBulk(OperatorActionBase):
    """Start a previewed bulk action: one `ops.bulk` job per tenant works through the matched jobs."""

    name: ClassVar[str] = "ops.bulk.confirm"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "bulk_operation"
    bulk_id: int = 0

    def perform(self) -> Outcome:
        from ballast.jobs.services import enqueue

        with transaction.atomic(using=APP):
            operation = BulkOperation.objects.using(APP).select_for_update().filter(pk=self.bulk_id).first()
            if operation is None:
                raise ActionRefused(f"There is no bulk operation {self.bulk_id}.")
            if operation.status != BulkOperation.Status.PREVIEWED:
                raise ActionRefused(f"Bulk operation {operation.pk} is {operation.status} already.")
            operation.status = BulkOperation.Status.RUNNING if operation.count else BulkOperation.Status.DONE
            operation.confirmed_by, operation.confirmed_at = self.actor, timezone.now()
            if not operation.count:
                operation.finished_at = operation.confirmed_at
            operation.save(using=APP)
            self.audit(
                target_id=operation.pk, filter=operation.filter, count=operation.count, bulk_action=operation.action
            )
            for tenant_id in sorted({tenant for tenant, _ in operation.matched}):
                enqueue(
                    tenant=tenant_id,
                    job_type="ops.bulk",
                    payload={"bulk_id": operation.pk},
                    idempotency_key=f"ops.bulk:{operation.pk}",
                    actor=self.actor,
                )
        return Outcome(
            f"{operation.action.capitalize()} of {operation.count} job(s) started.", {"bulk_id": operation.pk}
        )
