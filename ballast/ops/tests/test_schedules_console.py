"""The schedules console through Django's test client: every schedule with its next run, code-declared ones
read-only; run now, pause and resume through ballast.jobs.schedules, refused without the permission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from ballast.jobs import schedules
from ballast.jobs.models import Job, Schedule
from ballast.jobs.tests.conftest import other_tenant  # noqa: F401  (fixture)
from ballast.ops import selectors
from ballast.tenants.models import AuditEntry, Tenant

PAGE = "/admin/ops/schedules/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@dataclass
class Two:
    nightly: Schedule
    declared: Schedule


@pytest.fixture
def two(tenant: Tenant, other_tenant: Tenant) -> Two:  # noqa: F811
    nightly = schedules.create_schedule(
        tenant_id=tenant.pk,
        name="nightly",
        job_type="diagnostics.echo",
        payload={"value": 7},
        expression="0 3 * * *",
        timezone="Europe/Berlin",
        actor="user:setup",
    )
    declared = Schedule.objects.unscoped().create(
        tenant_id=other_tenant.pk,
        name="code:cleanup",
        job_type="diagnostics.echo",
        cron="*/5 * * * *",
        declared_in_code=True,
        created_by="code",
    )
    return Two(nightly, declared)


def test_the_page_lists_every_schedule_with_its_next_run_and_code_ones_read_only(operator: User, two: Two) -> None:
    response = logged_in(operator).get(PAGE)
    page = response.content.decode()

    assert response.status_code == 200
    assert f'data-schedule="{two.nightly.pk}" data-tenant="acme"' in page
    assert f'data-schedule="{two.declared.pk}" data-tenant="globex" class="ops-declared"' in page
    assert "<code>0 3 * * *</code>" in page and "Europe/Berlin" in page
    assert two.nightly.next_run_at is not None
    assert f'<td class="next-run">{two.nightly.next_run_at:%Y-%m-%d %H:%M}</td>' in page
    assert page.count('value="pause"') == 1 and "read-only" in page  # no buttons on the code row
    assert "style=" not in page.split('id="schedules"')[1]


def test_a_reader_sees_no_buttons_and_is_refused_on_post(reader: User, two: Two) -> None:
    client = logged_in(reader)
    assert 'value="run_now"' not in client.get(PAGE).content.decode()

    assert client.post(PAGE, {"action": "run_now", "schedule_id": two.nightly.pk}).status_code == 403
    assert not Job.objects.unscoped().exists()


def test_run_now_enqueues_one_job_which_the_history_lists_with_a_link(operator: User, two: Two) -> None:
    client = logged_in(operator)

    response = client.post(PAGE, {"action": "run_now", "schedule_id": two.nightly.pk, "show": two.nightly.pk})

    assert response.status_code == 302 and response["Location"] == f"{PAGE}?schedule={two.nightly.pk}"
    [job] = Job.objects.unscoped().all()
    assert job.payload == {"value": 7} and job.tenant_id == two.nightly.tenant_id
    page = client.get(response["Location"]).content.decode()
    assert f'<a href="/admin/ops/jobs/?job={job.pk}">{job.pk}</a>' in page
    assert 'id="history"' in page and "run now" in page
    entry = AuditEntry.objects.unscoped().get(action="schedule.run_now")
    assert entry.actor == "user:operator" and entry.data["job_id"] == job.pk


def test_pause_then_resume_change_its_state_and_are_audited(operator: User, two: Two) -> None:
    client = logged_in(operator)

    assert client.post(PAGE, {"action": "pause", "schedule_id": two.nightly.pk}).status_code == 302
    row = Schedule.objects.unscoped().get(pk=two.nightly.pk)
    assert not row.enabled and row.next_run_at is None
    assert 'value="resume"' in client.get(PAGE).content.decode()

    assert client.post(PAGE, {"action": "resume", "schedule_id": two.nightly.pk}).status_code == 302
    row = Schedule.objects.unscoped().get(pk=two.nightly.pk)
    assert row.enabled and row.next_run_at is not None
    actions = set(AuditEntry.objects.unscoped().filter(target_type="schedule").values_list("action", flat=True))
    assert {"schedule.paused", "schedule.resumed"} <= actions


def test_a_code_schedule_cannot_be_paused_and_an_unknown_one_is_a_404(operator: User, two: Two) -> None:
    client = logged_in(operator)

    refused = client.post(PAGE, {"action": "pause", "schedule_id": two.declared.pk})

    assert refused.status_code == 400 and "declared in code" in refused.content.decode()
    assert Schedule.objects.unscoped().get(pk=two.declared.pk).enabled
    assert client.post(PAGE, {"action": "pause", "schedule_id": 999999}).status_code == 400
    assert client.get(PAGE, {"schedule": "999999"}).status_code == 404


def test_the_page_reads_every_schedule_and_its_last_job_in_three_queries(
    two: Two, django_assert_num_queries: Any
) -> None:
    for n in range(5):
        made = schedules.create_schedule(
            tenant_id=two.nightly.tenant_id,
            name=f"every {n}",
            job_type="diagnostics.echo",
            payload={"value": n},
            expression=f"{n} * * * *",
            actor="user:setup",
        )
        schedules.run_schedule_now(schedule_id=made.pk, actor="user:setup")

    with django_assert_num_queries(3, connection=connections["system"]):
        rows = selectors.schedules()

    assert len(rows) == 7 and sum(row.last_status == "queued" for row in rows) == 5


def test_an_operator_creates_a_schedule_from_the_form_and_it_is_audited(operator: User, tenant: Tenant) -> None:
    client = logged_in(operator)
    form = {"action": "create", "tenant": "acme", "job_type": "diagnostics.echo", "cron": "*/1 * * * *"}

    response = client.post(PAGE, {**form, "payload": '{"value": 1}'})

    assert response.status_code == 302
    made = Schedule.objects.unscoped().get()
    assert (made.tenant_id, made.name, made.cron, made.timezone, made.payload) == (
        tenant.pk,
        "diagnostics.echo */1 * * * *",
        "*/1 * * * *",
        "UTC",
        {"value": 1},
    )
    assert made.created_by == "user:operator" and made.enabled and made.next_run_at is not None
    page = client.get(response["Location"]).content.decode()
    assert f'data-schedule="{made.pk}"' in page and "is created; its first run is at" in page
    entry = AuditEntry.objects.unscoped().get(action="schedule.created")
    assert (entry.actor, entry.target_id) == ("user:operator", str(made.pk))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cron": "61 * * * *"}, "61"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"payload": "{not json"}, "Payload is not valid JSON"),
        ({"tenant": "nope"}, "No tenant &#x27;nope&#x27;"),
        ({"job_type": "no.such.type"}, "no.such.type"),
    ],
)
def test_a_bad_form_is_a_400_that_says_what_is_wrong_keeps_the_input_and_writes_nothing(
    operator: User, tenant: Tenant, change: dict[str, str], message: str
) -> None:
    form = {"action": "create", "tenant": "acme", "job_type": "diagnostics.echo", "cron": "*/5 * * * *", **change}

    response = logged_in(operator).post(PAGE, form)

    page = response.content.decode()
    assert response.status_code == 400 and message in page
    assert f'id="new-cron" required placeholder="*/5 * * * *" value="{form["cron"]}"' in page
    assert not Schedule.objects.unscoped().exists()
    assert not AuditEntry.objects.unscoped().filter(action="schedule.created").exists()


def test_a_reader_gets_no_form_and_cannot_create(reader: User, tenant: Tenant) -> None:
    client = logged_in(reader)
    assert 'id="new-schedule"' not in client.get(PAGE).content.decode()

    form = {"action": "create", "tenant": "acme", "job_type": "diagnostics.echo", "cron": "*/5 * * * *"}
    assert client.post(PAGE, form).status_code == 403
    assert not Schedule.objects.unscoped().exists()
