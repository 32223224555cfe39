"""Cron schedules: the one write path for operators' schedules (console, API and commands call these), and the
leader's pass that enqueues each slot's job.

Each slot's job is enqueued under the idempotency key `schedule:<id>:<slot in UTC>`, so a slot has one job across
leader changes, restarts and two schedulers. A schedule whose slot the leader reaches more than
JOBS_CRON_GRACE_SECONDS late has missed it: `skip` leaves it, `run_once` runs the latest missed slot once. Every
change to an operator's schedule is audited with its actor; schedules declared in code (ballast.jobs.cron) are
kept in step by the leader and cannot be changed here.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError

from ballast.jobs import cron
from ballast.jobs.models import Job, Schedule
from ballast.jobs.services import EnqueueError, check_job, enqueue
from ballast.tenants.audit import record
from ballast.tenants.context import tenant_scope

logger = logging.getLogger(__name__)

SYSTEM = "system"
KEY_PREFIX = "schedule:"
MAX_NAME_LENGTH = Schedule._meta.get_field("name").max_length or 120
MISSED = tuple(Schedule.Missed.values)


class ScheduleError(ValueError):
    """Refused input or a change that does not apply; `field` names what it is about. Nothing was written."""

    def __init__(self, message: str, *, field: str = "schedule") -> None:
        super().__init__(message)
        self.field = field


class ScheduleNotFound(ScheduleError):
    """No such schedule, or not one the caller may see."""


def slot_key(schedule_id: int, slot: datetime) -> str:
    return f"{KEY_PREFIX}{schedule_id}:{slot.astimezone(UTC).isoformat()}"


def history_prefix(schedule_id: int) -> str:
    """The idempotency keys of a schedule's jobs start with this (its slots and its runs now)."""
    return f"{KEY_PREFIX}{schedule_id}:"


def check_schedule(
    *, name: str, job_type: str, payload: Any, expression: str, timezone: str, missed: str, public_only: bool
) -> None:
    """Raises ScheduleError naming the field unless create_schedule would take these; writes nothing."""
    if not name or len(name) > MAX_NAME_LENGTH or name.startswith("code:"):
        raise ScheduleError(f"A name is 1 to {MAX_NAME_LENGTH} characters, not starting 'code:'", field="name")
    if missed not in MISSED:
        raise ScheduleError(f"missed must be one of {', '.join(MISSED)}", field="missed")
    try:
        cron.validate(expression, timezone)
    except cron.CronError as exc:
        raise ScheduleError(str(exc), field=exc.field) from None
    try:
        check_job(job_type, payload, public_only=public_only)
    except EnqueueError as exc:
        raise ScheduleError(str(exc), field=exc.field) from None


def _audit(schedule: Schedule, action: str, actor: str, **data: Any) -> None:
    record(
        tenant_id=schedule.tenant_id,
        actor=actor,
        action=action,
        target_type="schedule",
        target_id=schedule.pk,
        data={"name": schedule.name, **data},
    )


def _now() -> datetime:
    from ballast.jobs.scheduler.periodic import database_now

    return database_now()


def create_schedule(
    *,
    tenant_id: int,
    name: str,
    job_type: str,
    payload: Any,
    expression: str,
    timezone: str = "UTC",
    missed: str = Schedule.Missed.SKIP,
    enabled: bool = True,
    actor: str,
    public_only: bool = False,
) -> Schedule:
    """A new operator's schedule of the tenant; its first slot is the next one from now. `public_only`: only
    types clients may enqueue (a tenant's credential)."""
    check_schedule(
        name=name,
        job_type=job_type,
        payload=payload,
        expression=expression,
        timezone=timezone,
        missed=missed,
        public_only=public_only,
    )
    next_run = cron.next_slot(expression, timezone, after=_now()) if enabled else None
    try:
        with tenant_scope(tenant_id):
            schedule = Schedule.objects.create(
                tenant_id=tenant_id,
                name=name,
                job_type=job_type,
                payload=payload,
                cron=expression,
                timezone=timezone,
                missed=missed,
                enabled=enabled,
                next_run_at=next_run,
                created_by=actor,
            )
            _audit(schedule, "schedule.created", actor, cron=expression, timezone=timezone, job_type=job_type)
    except IntegrityError:
        raise ScheduleError(f"The tenant already has a schedule named {name!r}", field="name") from None
    return schedule


def create_operator_schedule(
    *,
    tenant_slug: str | None,
    job_type: str,
    expression: str,
    timezone: str,
    payload_json: str,
    missed: str,
    name: str,
    actor: str,
) -> Schedule:
    """An operator's schedule from text, as a shell or a console form gives it: `tenant_slug` None is the platform
    tenant's (LIFECYCLE_MAINTENANCE_TENANT); `name` empty is '<job type> <expression>'. Everything is checked
    before the first write, the platform tenant's creation included."""
    from ballast.jobs.scheduler.periodic import platform_tenant_id
    from ballast.tenants.selectors import tenant_by_slug

    try:
        payload = json.loads(payload_json)
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"Payload is not valid JSON: {exc}", field="payload") from None
    tenant = tenant_by_slug(tenant_slug) if tenant_slug is not None else None
    if tenant_slug is not None and tenant is None:
        raise ScheduleError(f"No tenant {tenant_slug!r}", field="tenant")
    fields = {
        "name": name or f"{job_type} {expression}"[:MAX_NAME_LENGTH],
        "job_type": job_type,
        "payload": payload,
        "expression": expression,
        "timezone": timezone,
        "missed": missed,
    }
    check_schedule(public_only=False, **fields)
    tenant_id = tenant.pk if tenant is not None else platform_tenant_id()
    return create_schedule(tenant_id=tenant_id, actor=actor, **fields)


def _locked(schedule_id: int, tenant_id: int | None) -> tuple[int, Any]:
    """(tenant id, a function that returns the row locked): `tenant_id` None is an operator's reach, any tenant."""
    found = Schedule.objects.unscoped(SYSTEM).filter(pk=schedule_id)
    if tenant_id is not None:
        found = found.filter(tenant_id=tenant_id)
    owner = found.values_list("tenant_id", flat=True).first()
    if owner is None:
        raise ScheduleNotFound(f"No schedule {schedule_id}", field="id")

    def row() -> Schedule:
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            raise ScheduleNotFound(f"No schedule {schedule_id}", field="id")
        return schedule

    return int(owner), row


def _editable(schedule: Schedule) -> None:
    if schedule.declared_in_code:
        raise ScheduleError(
            f"Schedule {schedule.name!r} is declared in code ({schedule.job_type}): change it there", field="id"
        )


def update_schedule(
    *, schedule_id: int, actor: str, tenant_id: int | None = None, public_only: bool = False, **changes: Any
) -> Schedule:
    """Change any of name, job_type, payload, expression, timezone, missed; the next slot is reckoned again."""
    allowed = {"name", "job_type", "payload", "expression", "timezone", "missed"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ScheduleError(f"Unknown field {unknown[0]!r}", field=unknown[0])
    owner, row = _locked(schedule_id, tenant_id)
    with tenant_scope(owner):
        schedule = row()
        _editable(schedule)
        merged = {
            "name": schedule.name,
            "job_type": schedule.job_type,
            "payload": schedule.payload,
            "expression": schedule.cron,
            "timezone": schedule.timezone,
            "missed": schedule.missed,
            **changes,
        }
        check_schedule(public_only=public_only, **merged)
        schedule.name, schedule.job_type, schedule.payload = merged["name"], merged["job_type"], merged["payload"]
        schedule.cron, schedule.timezone, schedule.missed = merged["expression"], merged["timezone"], merged["missed"]
        if schedule.enabled:
            schedule.next_run_at = cron.next_slot(schedule.cron, schedule.timezone, after=_now())
        try:
            schedule.save()
        except IntegrityError:
            raise ScheduleError(f"The tenant already has a schedule named {merged['name']!r}", field="name") from None
        _audit(schedule, "schedule.changed", actor, changed=sorted(changes))
    return schedule


def pause_schedule(*, schedule_id: int, actor: str, tenant_id: int | None = None) -> Schedule:
    """No slot is enqueued until it is resumed. Safe to call twice."""
    owner, row = _locked(schedule_id, tenant_id)
    with tenant_scope(owner):
        schedule = row()
        _editable(schedule)
        if schedule.enabled:
            schedule.enabled, schedule.next_run_at = False, None
            schedule.save(update_fields=["enabled", "next_run_at", "updated_at"])
            _audit(schedule, "schedule.paused", actor)
    return schedule


def resume_schedule(*, schedule_id: int, actor: str, tenant_id: int | None = None) -> Schedule:
    """Runs again from the next slot after now: the slots missed while paused never run. Safe to call twice."""
    owner, row = _locked(schedule_id, tenant_id)
    with tenant_scope(owner):
        schedule = row()
        _editable(schedule)
        if not schedule.enabled:
            schedule.enabled = True
            schedule.next_run_at = cron.next_slot(schedule.cron, schedule.timezone, after=_now())
            schedule.save(update_fields=["enabled", "next_run_at", "updated_at"])
            _audit(schedule, "schedule.resumed", actor)
    return schedule


def delete_schedule(*, schedule_id: int, actor: str, tenant_id: int | None = None) -> None:
    """The schedule is gone; the jobs it enqueued stay."""
    owner, row = _locked(schedule_id, tenant_id)
    with tenant_scope(owner):
        schedule = row()
        _editable(schedule)
        _audit(schedule, "schedule.deleted", actor, cron=schedule.cron, job_type=schedule.job_type)
        schedule.delete()


def run_schedule_now(*, schedule_id: int, actor: str, tenant_id: int | None = None) -> Job:
    """One job of the schedule now, beside its slots (which stay as they are)."""
    owner, row = _locked(schedule_id, tenant_id)
    with tenant_scope(owner):
        schedule = row()
        try:
            job = enqueue(
                tenant=owner,
                job_type=schedule.job_type,
                payload=schedule.payload,
                idempotency_key=f"{history_prefix(schedule.pk)}now:{uuid.uuid4()}",
                actor=actor,
            )
        except EnqueueError as exc:
            raise ScheduleError(str(exc), field=exc.field) from None
        schedule.last_job_id, schedule.last_error = job.pk, ""
        schedule.save(update_fields=["last_job_id", "last_error", "updated_at"])
        _audit(schedule, "schedule.run_now", actor, job_id=job.pk)
    return job


@dataclass
class Pass:
    enqueued: list[int]  # ids of the jobs created
    skipped: int  # slots missed under `skip`
    failed: int  # slots whose job was refused (its type gone, its payload no longer fits)


def enqueue_due(*, now: datetime, limit: int = 500) -> Pass:
    """The leader's pass: for each enabled schedule whose next slot is at or before `now`, enqueue the job of its
    latest slot (unless missed under `skip`) and move it to the first slot after `now`. Safe to run twice, or
    in two processes at once: a slot's key names one job."""
    grace = float(settings.JOBS_CRON_GRACE_SECONDS)
    due = list(
        Schedule.objects.unscoped(SYSTEM)
        .filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", "tenant_id")[:limit]
    )
    report = Pass(enqueued=[], skipped=0, failed=0)
    for schedule_id, tenant_id in due:
        with tenant_scope(tenant_id):
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True)
                .filter(pk=schedule_id, enabled=True, next_run_at__lte=now)
                .first()
            )
            if schedule is None:  # another scheduler has it, or took it past this slot
                continue
            slot = cron.latest_slot(schedule.cron, schedule.timezone, now=now)
            schedule.next_run_at = cron.next_slot(schedule.cron, schedule.timezone, after=now)
            late = (now - slot).total_seconds() > grace
            if late and schedule.missed == Schedule.Missed.SKIP:
                report.skipped += 1
                late_by = int((now - slot).total_seconds())
                schedule.last_error = f"Slot {slot.isoformat()} missed by {late_by} s: skipped"
            else:
                try:
                    job = enqueue(
                        tenant=tenant_id,
                        job_type=schedule.job_type,
                        payload=schedule.payload,
                        idempotency_key=slot_key(schedule.pk, slot),
                        actor="scheduler",
                    )
                except EnqueueError as exc:
                    report.failed += 1
                    schedule.last_error = str(exc)[:500]
                    logger.warning("schedule %s (%s): slot %s refused: %s", schedule.pk, schedule.name, slot, exc)
                else:
                    schedule.last_run_at, schedule.last_job_id, schedule.last_error = slot, job.pk, ""
                    if job.created:
                        report.enqueued.append(job.pk)
            schedule.save(update_fields=["next_run_at", "last_run_at", "last_job_id", "last_error", "updated_at"])
    return report


def sync_declared(*, now: datetime, tenant_id: int) -> int:
    """Keep the platform tenant's code rows in step with the `cron=` declarations of this process: new ones
    created, changed ones reckoned again, ones no longer declared disabled. Returns the rows written."""
    written = 0
    declared = {d.name: d for d in cron.declared()}
    with tenant_scope(tenant_id):
        rows = {s.name: s for s in Schedule.objects.select_for_update().filter(declared_in_code=True)}
        for name, declaration in declared.items():
            schedule = rows.get(name)
            fields = {
                "job_type": declaration.job_type,
                "payload": declaration.payload,
                "cron": declaration.cron,
                "timezone": declaration.timezone,
                "missed": declaration.missed,
            }
            if schedule is None:
                Schedule.objects.create(
                    tenant_id=tenant_id,
                    name=name,
                    declared_in_code=True,
                    created_by="code",
                    next_run_at=cron.next_slot(declaration.cron, declaration.timezone, after=now),
                    **fields,
                )
                written += 1
            elif any(getattr(schedule, key) != value for key, value in fields.items()) or not schedule.enabled:
                for key, value in fields.items():
                    setattr(schedule, key, value)
                schedule.enabled = True
                schedule.next_run_at = cron.next_slot(declaration.cron, declaration.timezone, after=now)
                schedule.save()
                written += 1
        for name, schedule in rows.items():
            if name not in declared and schedule.enabled:
                schedule.enabled, schedule.next_run_at = False, None
                schedule.last_error = "No longer declared in code"
                schedule.save()
                written += 1
    return written
