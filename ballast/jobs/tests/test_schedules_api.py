"""The tenant's cron schedules through the API: tenant admins write, members read, every change audited; a bad
expression or time zone is a 400 naming the field; another tenant's schedule and the platform's are 404s."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from ballast.jobs import schedules
from ballast.jobs.models import Job, Schedule
from ballast.jobs.tests.conftest import other_tenant  # noqa: F401  (fixture)
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import AuditEntry, Role, Tenant
from ballast.tenants.tests.conftest import client_for

URL = "/api/v1/schedules"
NIGHTLY = {"name": "nightly", "job_type": "diagnostics.echo", "payload": {"value": 1}, "cron": "0 3 * * *"}


@pytest.fixture
def admin(tenant: Tenant, make_token: TokenMaker) -> APIClient:
    return client_for(make_token(tenant, Role.ADMIN))


@pytest.fixture
def member(tenant: Tenant, make_token: TokenMaker) -> APIClient:
    return client_for(make_token(tenant, Role.MEMBER))


def created(client: APIClient, **changes: Any) -> dict[str, Any]:
    response = client.post(URL, {**NIGHTLY, **changes}, format="json")
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def audited(tenant: Tenant, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.unscoped().filter(tenant_id=tenant.pk, action=action, target_type="schedule"))


def test_an_admin_creates_a_schedule_whose_next_run_is_its_next_slot_in_its_time_zone(
    tenant: Tenant, admin: APIClient
) -> None:
    body = created(admin, timezone="Europe/Berlin")

    assert body["cron"] == "0 3 * * *" and body["timezone"] == "Europe/Berlin" and body["enabled"] is True
    assert body["next_run_at"] is not None and body["missed"] == "skip"
    row = Schedule.objects.unscoped().get(pk=body["id"])
    assert row.tenant_id == tenant.pk and row.payload == {"value": 1} and not row.declared_in_code
    assert row.next_run_at is not None and row.next_run_at.astimezone(schedules.cron.zone("Europe/Berlin")).hour == 3
    [entry] = audited(tenant, "schedule.created")
    assert entry.actor.startswith("user:") and entry.data["cron"] == "0 3 * * *"
    assert admin.get(f"{URL}/{body['id']}").json()["name"] == "nightly"
    assert [item["id"] for item in admin.get(URL).json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cron": "every night"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"job_type": "nope"}, "job_type"),
        ({"missed": "sometimes"}, "missed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_value_is_a_400_naming_its_field_and_writes_nothing(
    tenant: Tenant, admin: APIClient, changes: dict[str, Any], field: str
) -> None:
    response = admin.post(URL, {**NIGHTLY, **changes}, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [field]
    assert not Schedule.objects.unscoped().exists()
    assert audited(tenant, "schedule.created") == []


def test_a_change_with_a_bad_time_zone_is_a_400_and_a_good_one_moves_the_next_run(admin: APIClient) -> None:
    body = created(admin)

    bad = admin.patch(f"{URL}/{body['id']}", {"timezone": "Nowhere/Atall"}, format="json")
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["timezone"]

    good = admin.patch(f"{URL}/{body['id']}", {"cron": "30 4 * * *", "timezone": "Asia/Tokyo"}, format="json")
    assert good.status_code == 200, good.content
    assert good.json()["cron"] == "30 4 * * *" and good.json()["timezone"] == "Asia/Tokyo"
    assert good.json()["next_run_at"] != body["next_run_at"]


def test_pause_and_resume_are_audited_and_a_paused_schedule_has_no_next_run(tenant: Tenant, admin: APIClient) -> None:
    body = created(admin)

    paused = admin.post(f"{URL}/{body['id']}/pause")
    assert paused.status_code == 200 and paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    assert admin.post(f"{URL}/{body['id']}/pause").status_code == 200  # twice: nothing more
    resumed = admin.post(f"{URL}/{body['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["enabled"] is True and resumed.json()["next_run_at"]

    assert len(audited(tenant, "schedule.paused")) == 1
    assert len(audited(tenant, "schedule.resumed")) == 1


def test_run_now_enqueues_one_job_of_the_schedule_and_delete_keeps_it(tenant: Tenant, admin: APIClient) -> None:
    body = created(admin)

    run = admin.post(f"{URL}/{body['id']}/run")

    assert run.status_code == 201, run.content
    job = Job.objects.unscoped().get(pk=run.json()["id"])
    assert job.tenant_id == tenant.pk and job.payload == {"value": 1}
    assert job.idempotency_key and job.idempotency_key.startswith(schedules.history_prefix(body["id"]))
    assert admin.get(f"{URL}/{body['id']}").json()["last_job"] == job.pk
    assert admin.delete(f"{URL}/{body['id']}").status_code == 204
    assert not Schedule.objects.unscoped().exists() and Job.objects.unscoped().filter(pk=job.pk).exists()
    assert len(audited(tenant, "schedule.deleted")) == 1


def test_another_tenants_schedule_is_a_404_and_untouched(
    admin: APIClient,
    other_tenant: Tenant,  # noqa: F811
    make_token: TokenMaker,
) -> None:
    theirs = created(client_for(make_token(other_tenant, Role.ADMIN)))
    path = f"{URL}/{theirs['id']}"

    assert admin.get(path).status_code == 404
    assert admin.patch(path, {"cron": "* * * * *"}, format="json").status_code == 404
    for action in ("pause", "resume", "run"):
        assert admin.post(f"{path}/{action}").status_code == 404
    assert admin.delete(path).status_code == 404
    assert admin.get(URL).json()["results"] == []
    row = Schedule.objects.unscoped().get(pk=theirs["id"])
    assert row.enabled and row.cron == "0 3 * * *" and row.last_job_id is None


def test_a_schedule_declared_in_code_is_not_visible_to_the_tenant(tenant: Tenant, admin: APIClient) -> None:
    declared = Schedule.objects.unscoped().create(
        tenant_id=tenant.pk,
        name="code:maintenance",
        job_type="diagnostics.echo",
        cron="0 * * * *",
        declared_in_code=True,
        created_by="code",
    )

    assert admin.get(URL).json()["results"] == []
    assert admin.get(f"{URL}/{declared.pk}").status_code == 404
    assert admin.post(f"{URL}/{declared.pk}/pause").status_code == 404


def test_a_member_reads_but_may_not_write(tenant: Tenant, admin: APIClient, member: APIClient) -> None:
    body = created(admin)
    path = f"{URL}/{body['id']}"

    assert member.get(URL).status_code == 200 and member.get(path).status_code == 200
    refused = [
        member.post(URL, {**NIGHTLY, "name": "mine"}, format="json"),
        member.patch(path, {"cron": "* * * * *"}, format="json"),
        member.post(f"{path}/pause"),
        member.post(f"{path}/run"),
        member.delete(path),
    ]
    assert [response.status_code for response in refused] == [403] * 5
    row = Schedule.objects.unscoped().get(pk=body["id"])
    assert row.enabled and row.cron == "0 3 * * *" and Schedule.objects.unscoped().count() == 1
    assert not Job.objects.unscoped().exists()
