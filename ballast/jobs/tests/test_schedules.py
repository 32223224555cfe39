"""Cron schedules: slots in a time zone across DST changes (a fixed clock passed to the slot computation), the
leader's pass that enqueues each slot once, the audited operator's path, and unique jobs over a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ballast.jobs import cron, schedules
from ballast.jobs.models import Job, Schedule
from ballast.jobs.services import EnqueueError, enqueue
from ballast.jobs.tests.concurrency import at_once
from ballast.tenants.models import AuditEntry, Tenant

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold).astimezone(UTC)  # type: ignore[misc, arg-type]


def test_a_daily_slot_is_at_the_same_wall_clock_time_in_summer_and_in_winter() -> None:
    summer = cron.next_slot("0 3 * * *", "Europe/Berlin", after=berlin(2024, 7, 1, 12))
    winter = cron.next_slot("0 3 * * *", "Europe/Berlin", after=berlin(2024, 12, 1, 12))
    assert summer == datetime(2024, 7, 2, 1, tzinfo=UTC)
    assert winter == datetime(2024, 12, 2, 2, tzinfo=UTC)


def test_a_time_the_clocks_skip_runs_at_the_first_moment_after_the_jump() -> None:
    slot = cron.next_slot("30 2 * * *", "Europe/Berlin", after=berlin(2024, 3, 30, 12))
    assert slot == berlin(2024, 3, 31, 3, 0) == datetime(2024, 3, 31, 1, tzinfo=UTC)


def test_a_fixed_time_the_clocks_repeat_runs_once() -> None:
    first = cron.next_slot("30 2 * * *", "Europe/Berlin", after=berlin(2024, 10, 26, 12))
    second = cron.next_slot("30 2 * * *", "Europe/Berlin", after=first)
    assert first == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert second == berlin(2024, 10, 28, 2, 30)  # not 02:30 CET an hour after the first


def test_an_hourly_schedule_runs_in_both_passes_of_a_repeated_hour() -> None:
    slots = [berlin(2024, 10, 27, 1, 30)]
    for _ in range(4):
        slots.append(cron.next_slot("30 * * * *", "Europe/Berlin", after=slots[-1]))
    assert [s.hour for s in slots] == [23, 0, 1, 2, 3]  # UTC: 01:30, 02:30 CEST, 02:30 CET, 03:30, 04:30 local


def test_the_latest_slot_includes_now_and_skips_the_repeated_pass() -> None:
    assert cron.latest_slot("*/5 * * * *", "UTC", now=datetime(2024, 1, 1, 0, 10, tzinfo=UTC)) == datetime(
        2024, 1, 1, 0, 10, tzinfo=UTC
    )
    within_repeat = berlin(2024, 10, 27, 2, 45, fold=1)
    assert cron.latest_slot("30 2 * * *", "Europe/Berlin", now=within_repeat) == datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "zone", "field"),
    [("61 * * * *", "UTC", "cron"), ("* * * *", "UTC", "cron"), ("0 3 * * *", "Mars/Olympus", "timezone")],
)
def test_a_bad_expression_or_zone_is_refused_naming_the_field(expression: str, zone: str, field: str) -> None:
    with pytest.raises(cron.CronError) as refused:
        cron.validate(expression, zone)
    assert refused.value.field == field


def _schedule(tenant: Tenant, **overrides: object) -> Schedule:
    options: dict = {
        "tenant_id": tenant.pk,
        "name": "nightly echo",
        "job_type": "diagnostics.echo",
        "payload": {"value": 1},
        "expression": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "actor": "user:alice",
        **overrides,
    }
    return schedules.create_schedule(**options)


def _due_at(schedule: Schedule, when: datetime) -> None:
    Schedule.objects.unscoped().filter(pk=schedule.pk).update(next_run_at=when)


def test_the_leader_enqueues_a_slot_once_however_often_it_passes(tenant: Tenant) -> None:
    schedule = _schedule(tenant)
    slot = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    _due_at(schedule, slot)
    now = slot + timedelta(seconds=5)

    first = schedules.enqueue_due(now=now)
    _due_at(schedule, slot)  # as if a second scheduler had read the row before the first moved it
    second = schedules.enqueue_due(now=now)

    jobs = Job.objects.unscoped().filter(idempotency_key=schedules.slot_key(schedule.pk, slot))
    assert len(first.enqueued) == 1 and second.enqueued == [] and jobs.count() == 1
    row = Schedule.objects.unscoped().get(pk=schedule.pk)
    assert row.last_job_id == jobs.get().pk and row.last_run_at == slot
    assert row.next_run_at == berlin(2024, 10, 28, 2, 30)  # the repeated 02:30 of that night is not a slot


def test_a_missed_slot_is_skipped_or_run_once_by_policy(tenant: Tenant) -> None:
    skip = _schedule(tenant, name="skip")
    run_once = _schedule(tenant, name="run once", missed="run_once")
    monday = datetime(2024, 7, 1, 0, 30, tzinfo=UTC)
    for schedule in (skip, run_once):
        _due_at(schedule, monday)
    an_evening_later = datetime(2024, 7, 3, 18, 0, tzinfo=UTC)  # two slots missed

    report = schedules.enqueue_due(now=an_evening_later)

    assert report.skipped == 1 and len(report.enqueued) == 1
    job = Job.objects.unscoped().get(pk=report.enqueued[0])
    assert job.idempotency_key == schedules.slot_key(run_once.pk, datetime(2024, 7, 3, 0, 30, tzinfo=UTC))
    assert "skipped" in Schedule.objects.unscoped().get(pk=skip.pk).last_error


def test_a_paused_schedule_enqueues_nothing_and_resumes_from_the_next_slot(tenant: Tenant) -> None:
    schedule = _schedule(tenant, expression="* * * * *")
    schedules.pause_schedule(schedule_id=schedule.pk, actor="user:alice")
    Schedule.objects.unscoped().filter(pk=schedule.pk).update(next_run_at=datetime(2024, 1, 1, tzinfo=UTC))

    assert schedules.enqueue_due(now=datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)).enqueued == []
    resumed = schedules.resume_schedule(schedule_id=schedule.pk, actor="user:bob")
    assert resumed.enabled and resumed.next_run_at is not None and resumed.next_run_at > datetime.now(UTC)
    actions = list(
        AuditEntry.objects.unscoped()
        .filter(target_type="schedule", target_id=str(schedule.pk))
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("schedule.created", "user:alice"),
        ("schedule.paused", "user:alice"),
        ("schedule.resumed", "user:bob"),
    ]


def test_a_bad_schedule_is_refused_before_any_write(tenant: Tenant) -> None:
    with pytest.raises(schedules.ScheduleError) as bad_zone:
        _schedule(tenant, timezone="Europe/Nowhere")
    with pytest.raises(schedules.ScheduleError) as bad_type:
        _schedule(tenant, job_type="no.such.type")
    assert (bad_zone.value.field, bad_type.value.field) == ("timezone", "job_type")
    assert not Schedule.objects.unscoped().exists()


def test_a_schedule_declared_in_code_is_mirrored_and_read_only(tenant: Tenant) -> None:
    others = dict(cron._declared)  # only this test's declaration (test modules may declare their own)
    cron._declared.clear()
    cron.declare("diagnostics.echo", cron="0 3 * * *", timezone="Europe/Berlin", payload={"value": 7})
    try:
        assert schedules.sync_declared(now=datetime(2024, 7, 1, tzinfo=UTC), tenant_id=tenant.pk) == 1
        row = Schedule.objects.unscoped().get(declared_in_code=True)
        assert row.next_run_at == datetime(2024, 7, 1, 1, tzinfo=UTC)
        with pytest.raises(schedules.ScheduleError, match="declared in code"):
            schedules.pause_schedule(schedule_id=row.pk, actor="user:alice")
        assert schedules.sync_declared(now=datetime(2024, 7, 1, tzinfo=UTC), tenant_id=tenant.pk) == 0
        cron._declared.clear()
        schedules.sync_declared(now=datetime(2024, 7, 1, tzinfo=UTC), tenant_id=tenant.pk)
        assert not Schedule.objects.unscoped().get(declared_in_code=True).enabled
    finally:
        cron._declared.clear()
        cron._declared.update(others)


def test_run_now_enqueues_a_job_in_the_schedules_history(tenant: Tenant) -> None:
    schedule = _schedule(tenant)
    job = schedules.run_schedule_now(schedule_id=schedule.pk, actor="user:alice")
    assert job.idempotency_key is not None and job.idempotency_key.startswith(schedules.history_prefix(schedule.pk))
    other = create_other_tenant()
    with pytest.raises(schedules.ScheduleNotFound):
        schedules.run_schedule_now(schedule_id=schedule.pk, actor="user:mallory", tenant_id=other.pk)


def create_other_tenant() -> Tenant:
    from ballast.tenants.services import create_tenant

    return create_tenant(slug="other", name="Other")


def test_a_unique_job_is_returned_within_its_window_and_a_new_one_after(tenant: Tenant) -> None:
    first = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, unique_for=timedelta(minutes=5))
    again = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, unique_for=timedelta(minutes=5))
    other = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, unique_for=timedelta(minutes=5))
    assert again.pk == first.pk and not again.created and other.pk != first.pk
    Job.objects.unscoped().filter(pk=first.pk).update(created_at=first.created_at - timedelta(minutes=6))

    later = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, unique_for=timedelta(minutes=5))
    assert later.created and later.pk != first.pk


def test_a_unique_job_outside_its_states_does_not_hold_the_key(tenant: Tenant) -> None:
    first = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, unique_for=timedelta(hours=1))
    Job.objects.unscoped().filter(pk=first.pk).update(status="cancelled")
    again = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, unique_for=timedelta(hours=1))
    assert again.created
    with pytest.raises(EnqueueError) as refused:
        enqueue(
            tenant=tenant,
            job_type="diagnostics.echo",
            payload={"value": 3},
            unique_for=timedelta(1),
            unique_states=["gone"],
        )
    assert refused.value.field == "unique_states"


def test_twenty_concurrent_unique_enqueues_make_one_job(tenant: Tenant) -> None:
    ids, errors = at_once(
        20,
        lambda: (
            enqueue(
                tenant=tenant, job_type="diagnostics.echo", payload={"value": 9}, unique_for=timedelta(minutes=1)
            ).pk
        ),
    )

    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert Job.objects.unscoped().filter(job_type="diagnostics.echo").count() == 1
