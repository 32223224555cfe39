"""`manage.py schedules`: the operators' schedules from a shell, through the audited schedule services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from ballast.jobs.models import Job, Schedule
from ballast.tenants.models import AuditEntry, Tenant


def _call(*args: str) -> str:
    out = StringIO()
    call_command("schedules", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _create(*extra: str) -> int:
    return int(_call("create", "--tenant", "acme", "--job-type", "diagnostics.echo", *extra).strip())


def test_create_list_pause_resume_run_now_and_delete_are_each_audited_as_the_shell_user(tenant: Tenant) -> None:
    schedule_id = _create("--cron", "0 3 * * *", "--timezone", "Europe/Berlin", "--payload", '{"value": 2}')
    row = Schedule.objects.unscoped().get(pk=schedule_id)
    assert (row.tenant_id, row.cron, row.timezone, row.payload, row.missed) == (
        tenant.pk,
        "0 3 * * *",
        "Europe/Berlin",
        {"value": 2},
        "skip",
    )
    assert row.next_run_at is not None

    listed = _call("list", "--tenant", "acme")
    assert f"{schedule_id}\tacme\tdiagnostics.echo 0 3 * * *" in listed and "enabled" in listed
    assert "1 schedule(s)" in listed

    assert "is paused" in _call("pause", str(schedule_id))
    assert "paused" in _call("list")
    assert not Schedule.objects.unscoped().get(pk=schedule_id).enabled
    _call("resume", str(schedule_id))
    assert Schedule.objects.unscoped().get(pk=schedule_id).enabled
    job_id = int(_call("run-now", str(schedule_id)).strip())
    assert Job.objects.unscoped().get(pk=job_id).payload == {"value": 2}
    assert "is deleted" in _call("delete", str(schedule_id))
    assert not Schedule.objects.unscoped().filter(pk=schedule_id).exists()

    audit = list(
        AuditEntry.objects.unscoped()
        .filter(target_type="schedule", target_id=str(schedule_id))
        .order_by("id")
        .values_list("action", "actor")
    )
    assert [action for action, _ in audit] == [
        "schedule.created",
        "schedule.paused",
        "schedule.resumed",
        "schedule.run_now",
        "schedule.deleted",
    ]
    assert all(actor.startswith("cli:") and actor.endswith(":schedules") for _, actor in audit)


def test_a_platform_schedule_goes_to_the_platform_tenant(tenant: Tenant) -> None:
    out = _call(
        "create", "--platform", "--job-type", "diagnostics.echo", "--cron", "*/5 * * * *", "--payload", '{"value": 1}'
    )
    platform = Tenant.objects.using("system").get(slug=settings.LIFECYCLE_MAINTENANCE_TENANT)
    assert Schedule.objects.unscoped().get(pk=int(out.strip())).tenant_id == platform.pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--cron", "0 3 * * *"], "No tenant 'nope'"),
        (["--tenant", "acme", "--cron", "61 * * * *"], "61"),
        (["--tenant", "acme", "--cron", "0 3 * * *", "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--tenant", "acme", "--cron", "0 3 * * *", "--payload", "{oops"], "not valid JSON"),
        (["--platform", "--cron", "0 3 * * *", "--job-type", "no.such.type"], "no.such.type"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tenant: Tenant, args: list[str], message: str) -> None:
    job_type = [] if "--job-type" in args else ["--job-type", "diagnostics.echo"]
    with pytest.raises(CommandError, match=message) as refused:
        _call("create", *job_type, *args, *(["--payload", '{"value": 1}'] if "--payload" not in args else []))
    assert "\n" not in str(refused.value)
    assert not Schedule.objects.unscoped().exists()
    assert not Tenant.objects.using("system").filter(slug=settings.LIFECYCLE_MAINTENANCE_TENANT).exists()


def test_an_unknown_schedule_or_one_declared_in_code_is_refused(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="No schedule 999"):
        _call("pause", "999")
    declared = Schedule.objects.unscoped().create(
        tenant_id=tenant.pk, name="code:echo", job_type="diagnostics.echo", cron="0 3 * * *", declared_in_code=True
    )
    with pytest.raises(CommandError, match="declared in code"):
        _call("delete", str(declared.pk))
    assert Schedule.objects.unscoped().filter(pk=declared.pk).exists()
