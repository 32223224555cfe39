"""The console's operator actions as objects (the Wagtail actions pattern): `check(user)` raises ActionForbidden
unless the staff user holds the permission; `execute()` then does the work. Actions on jobs call the jobs app's
operations (ballast.jobs.actions), the same functions the API and the commands call; the console's own (alerts,
upload cleanup) write their change and one operator log row (ballast.tenants.models.OperatorAction) through
the system alias, in one transaction around the tenant's writes.

    action = RetryJob(job_id=42)
    action.check(request.user)
    outcome = action.execute()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from ballast.jobs import actions as jobs_actions
from ballast.jobs import batches, schedules
from ballast.jobs.actions import ActionRefused, Operator, Outcome, TargetNotFound
from ballast.jobs.bulk import JobFilter
from ballast.jobs.models import Batch, Pause
from ballast.jobs.worker.run import run_now
from ballast.ops import alerts
from ballast.ops.models import Alert
from ballast.tenants.audit import actor_for_user, record_operator_action
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from ballast.uploads.scheduling import JOB_TYPES as CLEANUP_TYPES
from ballast.uploads.scheduling import schedule_cleanup

VIEW = "ops.view_console"
OPERATE_QUEUE = "ops.operate_queue"
OPERATE_UPLOADS = "ops.operate_uploads"
SYSTEM = "system"  # alerts and the operator log: operator-side tables, out of the app role's reach
APP = "default"  # the app role: a tenant's writes (an alert's e-mail, a cleanup job)

REGISTERED: dict[str, type[OperatorActionBase]] = {}


class ActionForbidden(PermissionDenied):
    """The user may not perform this action; the message says which permission is missing."""


__all__ = ["ActionForbidden", "ActionRefused", "Outcome", "TargetNotFound"]  # beside the action classes


class OperatorActionBase:
    name: ClassVar[str]  # the operator log's action, e.g. "ops.job.retry"
    permission: ClassVar[str]
    target_type: ClassVar[str]

    actor: str = ""
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

    @property
    def operator(self) -> Operator:
        return Operator(actor=self.actor)

    def execute(self) -> Outcome:
        if not self._checked:
            raise ActionForbidden(f"{self.name}: check(user) must pass before execute()")
        return self.perform()

    def perform(self) -> Outcome:
        raise NotImplementedError

    def audit(self, *, target_id: object, tenant_id: int | None = None, **data: Any) -> str:
        """The action's one operator log row, in the caller's transaction; returns its trace id."""
        return record_operator_action(
            actor=self.actor,
            action=self.name,
            target_type=self.target_type,
            target_id=target_id,
            tenant_id=tenant_id,
            data=data,
            using=SYSTEM,
        )


def tenant_id_of(slug_or_id: str | int | None) -> int | None:
    """A tenant named by slug or id, as the console and the commands take it; None when none is named."""
    if slug_or_id is None or slug_or_id == "":
        return None
    text = str(slug_or_id)
    query = Tenant.objects.using("system")
    found = (query.filter(pk=int(text)) if text.isdigit() else query.filter(slug=text)).first()
    if found is None:
        raise ActionRefused(f"There is no tenant {slug_or_id!r}.")
    return found.pk


@dataclass
class RetryJob(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.RETRY
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        return jobs_actions.retry_job(by=self.operator, job_id=self.job_id)


@dataclass
class CancelJob(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.CANCEL
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        return jobs_actions.cancel_job(by=self.operator, job_id=self.job_id)


@dataclass
class DiscardJob(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.DISCARD
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job"
    job_id: int = 0

    def perform(self) -> Outcome:
        return jobs_actions.discard_job(by=self.operator, job_id=self.job_id)


@dataclass
class ReplayDeadLetters(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.REPLAY
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "dead_letter"
    dead_letter_ids: list[int] = field(default_factory=list)

    def perform(self) -> Outcome:
        return jobs_actions.replay_dead_letters(by=self.operator, dead_letter_ids=self.dead_letter_ids)


@dataclass
class RunNow(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.RUN_NOW
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "job_type"
    job_type: str = ""
    tenant: str | int | None = None
    max_jobs: int = 10
    budget_ms: int = 5000

    def perform(self) -> Outcome:
        return jobs_actions.run_now(
            by=self.operator,
            job_type=self.job_type,
            tenant_id=tenant_id_of(self.tenant),
            max_jobs=self.max_jobs,
            budget_ms=self.budget_ms,
        )


@dataclass
class PauseJobs(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.PAUSE
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "pause"
    kind: str = Pause.Kind.TYPE
    target: str = ""
    reason: str = ""

    def perform(self) -> Outcome:
        return jobs_actions.pause(by=self.operator, kind=self.kind, target=self.target, reason=self.reason)


@dataclass
class ResumeJobs(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.RESUME
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "pause"
    kind: str = Pause.Kind.TYPE
    target: str = ""

    def perform(self) -> Outcome:
        return jobs_actions.resume(by=self.operator, kind=self.kind, target=self.target)


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
        tenant_id = tenant_id_of(self.tenant)
        if tenant_id is None:
            raise ActionRefused("Name the tenant to clean up.")
        with transaction.atomic(using=SYSTEM), tenant_scope(tenant_id):
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
        alert = Alert.objects.using(SYSTEM).select_for_update().filter(pk=self.alert_id).first()
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
        with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
            alert = self._alert()
            alert.status, alert.acknowledged_at, alert.acknowledged_by = (
                Alert.Status.ACKNOWLEDGED,
                timezone.now(),
                self.actor,
            )
            alert.save(using=SYSTEM, update_fields=["status", "acknowledged_at", "acknowledged_by"])
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
        with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
            alert = self._alert()
            until: datetime = timezone.now() + timedelta(minutes=self.minutes)
            alert.snoozed_until = until
            alert.save(using=SYSTEM, update_fields=["snoozed_until"])
            self.audit(target_id=alert.pk, tenant_id=alert.tenant_id, until=until.isoformat())
            alerts.announce(alert, "snoozed", actor=self.actor)
        return Outcome(f"Alert {alert.pk} snoozed until {until:%Y-%m-%d %H:%M} UTC.")


@dataclass
class ResolveAlert(_AlertAction):
    name: ClassVar[str] = "ops.alert.resolve"
    allowed_from: ClassVar[tuple[str, ...]] = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)

    def perform(self) -> Outcome:
        with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
            alert = self._alert()
            alert.status, alert.resolved_at, alert.resolved_by = Alert.Status.RESOLVED, timezone.now(), self.actor
            alert.save(using=SYSTEM, update_fields=["status", "resolved_at", "resolved_by"])
            self.audit(target_id=alert.pk, tenant_id=alert.tenant_id, rule=alert.rule)
            alerts.announce(alert, "resolved", actor=self.actor)
        return Outcome(f"Alert {alert.pk} resolved.")


@dataclass
class PreviewBulk(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.BULK_PREVIEW
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "bulk_operation"
    action: str = "retry"
    where: JobFilter = field(default_factory=JobFilter)

    def perform(self) -> Outcome:
        return jobs_actions.preview_bulk(by=self.operator, action=self.action, where=self.where)


@dataclass
class ConfirmBulk(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.BULK_CONFIRM
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "bulk_operation"
    bulk_id: int = 0

    def perform(self) -> Outcome:
        return jobs_actions.confirm_bulk(by=self.operator, bulk_id=self.bulk_id)


@dataclass
class QuietWorker(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.QUIET_WORKER
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "worker"
    worker_name: str = ""

    def perform(self) -> Outcome:
        return jobs_actions.quiet_worker(by=self.operator, worker_name=self.worker_name)


@dataclass
class StopWorker(OperatorActionBase):
    name: ClassVar[str] = jobs_actions.STOP_WORKER
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "worker"
    worker_name: str = ""

    def perform(self) -> Outcome:
        return jobs_actions.stop_worker(by=self.operator, worker_name=self.worker_name)


@dataclass
class ScheduleAction(OperatorActionBase):
    """Through ballast.jobs.schedules, which audits the change with the operator as its actor."""

    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "schedule"
    schedule_id: int = 0

    def perform(self) -> Outcome:
        try:
            return self.on_schedule()
        except schedules.ScheduleNotFound:
            raise TargetNotFound(f"There is no schedule {self.schedule_id}.") from None
        except schedules.ScheduleError as exc:
            raise ActionRefused(str(exc)) from None

    def on_schedule(self) -> Outcome:
        raise NotImplementedError


@dataclass
class CreateSchedule(ScheduleAction):
    """A new operator's schedule from the console's form; `tenant` is a slug, empty for the platform tenant."""

    name: ClassVar[str] = "schedule.created"
    tenant: str = ""
    schedule_name: str = ""
    job_type: str = ""
    expression: str = ""
    timezone: str = "UTC"
    payload: str = "{}"
    missed: str = "skip"

    def on_schedule(self) -> Outcome:
        schedule = schedules.create_operator_schedule(
            tenant_slug=self.tenant or None,
            job_type=self.job_type,
            expression=self.expression,
            timezone=self.timezone,
            payload_json=self.payload,
            missed=self.missed,
            name=self.schedule_name,
            actor=self.actor,
        )
        when = f"{schedule.next_run_at:%Y-%m-%d %H:%M} UTC" if schedule.next_run_at else "its next slot"
        return Outcome(f"Schedule {schedule.name!r} is created; its first run is at {when}.", {"schedule": schedule.pk})


@dataclass
class RunScheduleNow(ScheduleAction):
    name: ClassVar[str] = "schedule.run_now"

    def on_schedule(self) -> Outcome:
        job = schedules.run_schedule_now(schedule_id=self.schedule_id, actor=self.actor)
        return Outcome(f"Schedule {self.schedule_id}: job {job.pk} is queued.", {"job_id": job.pk})


@dataclass
class PauseSchedule(ScheduleAction):
    name: ClassVar[str] = "schedule.paused"

    def on_schedule(self) -> Outcome:
        schedule = schedules.pause_schedule(schedule_id=self.schedule_id, actor=self.actor)
        return Outcome(f"Schedule {schedule.name!r} is paused.")


@dataclass
class ResumeSchedule(ScheduleAction):
    name: ClassVar[str] = "schedule.resumed"

    def on_schedule(self) -> Outcome:
        schedule = schedules.resume_schedule(schedule_id=self.schedule_id, actor=self.actor)
        when = f"{schedule.next_run_at:%Y-%m-%d %H:%M} UTC" if schedule.next_run_at else "its next slot"
        return Outcome(f"Schedule {schedule.name!r} runs again from {when}.")


@dataclass
class CancelBatch(OperatorActionBase):
    """Through ballast.jobs.batches.cancel_batch, which audits it with the operator as its actor."""

    name: ClassVar[str] = "batch.cancelled"
    permission: ClassVar[str] = OPERATE_QUEUE
    target_type: ClassVar[str] = "batch"
    batch_id: int = 0

    def perform(self) -> Outcome:
        batch = Batch.objects.unscoped().filter(pk=self.batch_id).first()
        if batch is None:
            raise TargetNotFound(f"There is no batch {self.batch_id}.")
        reached = batches.cancel_batch(batch=batch, actor=self.actor)
        return Outcome(f"Batch {batch.pk}: {reached} member(s) cancelled or asked to stop.", {"reached": reached})
