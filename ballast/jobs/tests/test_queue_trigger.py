"""The synchronous paths that run jobs (queue/process, the console's run now) hold the workers' limits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from ballast.jobs import policy
from ballast.jobs.models import Job
from ballast.jobs.services import enqueue
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.worker.claim import claim_job
from ballast.jobs.worker.processing import process_due_jobs
from ballast.jobs.worker.run import run_now
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for


def _jobs(tenant: Tenant, count: int, **options: Any) -> list[Job]:
    with transaction.atomic():
        return [
            enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": i}, **options) for i in range(count)
        ]


def test_queue_process_holds_the_per_tenant_email_rate_limit(
    tenant: Tenant, make_token: TokenMaker, settings: Any
) -> None:
    settings.EMAIL_RATE_PER_MINUTE = 0
    settings.EMAIL_RATE_PER_TENANT_PER_MINUTE = 2
    mails = _jobs(tenant, 4, queue="email")

    response = client_for(make_token(tenant, Role.ADMIN)).post("/api/v1/queue/process?max=10&budget_ms=5000")
    again = client_for(make_token(tenant, Role.ADMIN)).post("/api/v1/queue/process?max=10&budget_ms=5000")

    assert response.status_code == 200 and response.json()["processed"] == 2
    assert again.json()["processed"] == 0  # the minute's two are spent
    rows = [job_row(job.pk) for job in mails]
    assert sorted(row.status for row in rows) == ["queued", "queued", "succeeded", "succeeded"]
    assert all(row.attempts == 0 for row in rows if row.status == "queued")  # given back uncharged


def test_queue_process_holds_the_concurrency_cap(tenant: Tenant, settings: Any) -> None:
    settings.JOBS_CONCURRENCY = {"diagnostics.echo": 1}
    running, waiting = _jobs(tenant, 2)
    assert claim_job(running.pk, worker="elsewhere") is not None  # one runs in a worker already

    assert process_due_jobs(max_jobs=5, budget_ms=2_000, tenant_id=tenant.pk).processed == 0
    row = job_row(waiting.pk)
    assert (row.status, row.attempts) == ("queued", 0)


def test_the_consoles_run_now_holds_the_concurrency_cap(tenant: Tenant, settings: Any) -> None:
    settings.JOBS_CONCURRENCY = {"diagnostics.echo": 1}
    running, waiting = _jobs(tenant, 2)
    assert claim_job(running.pk, worker="elsewhere") is not None

    assert run_now(waiting.pk).claimed == 0
    row = job_row(waiting.pk)
    assert (row.status, row.attempts) == ("queued", 0)


def test_run_due_jobs_for_tests_skips_the_limits(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_RATE_PER_MINUTE = 1
    settings.JOBS_CONCURRENCY = {"diagnostics.echo": 1}
    _jobs(tenant, 3, queue="email")

    assert run_due_jobs(tenant_id=tenant.pk).succeeded == 3


def test_email_waits_behind_default_work_of_the_same_moment(tenant: Tenant) -> None:
    assert policy.QUEUES["email"].default_priority < policy.QUEUES["default"].default_priority
    (mail,) = _jobs(tenant, 1, queue="email")
    (work,) = _jobs(tenant, 1)

    assert process_due_jobs(max_jobs=1, budget_ms=2_000, tenant_id=tenant.pk).processed == 1
    assert (job_row(work.pk).status, job_row(mail.pk).status) == ("succeeded", "queued")


def test_queue_process_runs_one_job_unless_asked_and_leaves_the_excluded_types(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    echoes = _jobs(tenant, 3)
    with transaction.atomic():
        failing = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "x"}, max_attempts=1)
    client = client_for(make_token(tenant, Role.ADMIN))

    one = client.post("/api/v1/queue/process")
    rest = client.post("/api/v1/queue/process?max=10&excludeTypes=diagnostics.fail,examples.tasks.add")

    assert (one.json()["processed"], rest.json()["processed"]) == (1, 2)
    assert all(job_row(job.pk).status == "succeeded" for job in echoes)
    assert job_row(failing.pk).status == "queued"


@pytest.mark.parametrize(
    "value", ["", "diagnostics.fail,", "diagnostics fail", "a;b", ",".join(f"t{i}" for i in range(11)), "a" * 301]
)
def test_queue_process_names_a_bad_exclude_types_parameter(tenant: Tenant, make_token: TokenMaker, value: str) -> None:
    response = client_for(make_token(tenant, Role.ADMIN)).post(f"/api/v1/queue/process?excludeTypes={value}")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "excludeTypes" in response.json()["errors"]
