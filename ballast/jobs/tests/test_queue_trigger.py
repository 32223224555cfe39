"""The synchronous paths that run jobs (queue/process, the console's run now) hold the workers' limits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from ballast.jobs import policy
from ballast.jobs.models import Job
from ballast.jobs.registry import registered_types
from ballast.jobs.services import enqueue
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests import handlers  # noqa: F401  (registers the test job types)
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


def _of_type(tenant: Tenant, job_type: str, count: int = 1, **options: Any) -> list[Job]:
    with transaction.atomic():
        return [enqueue(tenant=tenant, job_type=job_type, payload={}, **options) for _ in range(count)]


def _process(tenant: Tenant, make_token: TokenMaker, query: str) -> Any:
    return client_for(make_token(tenant, Role.ADMIN)).post(f"/api/v1/queue/process?{query}")


def test_a_small_budget_returns_within_it_and_starts_nothing_that_cannot_fit(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    with transaction.atomic():
        sleeper = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 12}, priority=100)
    (echo,) = _jobs(tenant, 1)

    response = _process(tenant, make_token, "budget_ms=100&max=5")

    assert response.status_code == 200
    assert response.json()["processed"] == 0  # echo's bound (1 s) is above 100 ms; the sleeper has none
    assert response.json()["elapsed_ms"] < 1_000
    assert [(job_row(j.pk).status, job_row(j.pk).attempts) for j in (sleeper, echo)] == [("queued", 0)] * 2


def test_types_without_a_sync_bound_are_left_to_the_workers(tenant: Tenant, make_token: TokenMaker) -> None:
    with transaction.atomic():
        sleeper = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 12}, priority=100)
    echoes = _jobs(tenant, 2)

    response = _process(tenant, make_token, "budget_ms=5000&max=5")

    assert response.json()["processed"] == 2 and response.json()["elapsed_ms"] < 5_000
    assert all(job_row(job.pk).status == "succeeded" for job in echoes)
    assert (job_row(sleeper.pk).status, job_row(sleeper.pk).attempts) == ("queued", 0)


def test_a_job_run_by_the_trigger_runs_under_its_sync_bound(tenant: Tenant, make_token: TokenMaker) -> None:
    (job,) = _of_type(tenant, "tests.overruns_its_sync_bound")

    response = _process(tenant, make_token, "budget_ms=2000")

    assert response.json()["retried"] == 1 and response.json()["elapsed_ms"] < 2_000  # its 0.3 s, not its 60
    assert "0.3 s" in job_row(job.pk).last_error


def test_balanced_runs_maintenance_first_and_legacy_by_priority(tenant: Tenant, make_token: TokenMaker) -> None:
    (urgent,) = _jobs(tenant, 1, priority=50)
    (cleanup,) = _of_type(tenant, "tests.cleanup_like")

    _process(tenant, make_token, "max=1")
    assert (job_row(cleanup.pk).status, job_row(urgent.pk).status) == ("succeeded", "queued")

    (second,) = _of_type(tenant, "tests.cleanup_like")
    _process(tenant, make_token, "max=1&mode=legacy")
    assert (job_row(urgent.pk).status, job_row(second.pk).status) == ("succeeded", "queued")


def test_balanced_holds_the_quota_of_each_class(tenant: Tenant, make_token: TokenMaker) -> None:
    mails = _of_type(tenant, "tests.mail_like", 4)
    cleanups = _of_type(tenant, "tests.cleanup_like", 3)
    echoes = _jobs(tenant, 2)

    response = _process(tenant, make_token, "max=50&emailMax=1&cleanupMax=2")

    assert response.json()["processed"] == 5
    done = [sum(job_row(job.pk).status == "succeeded" for job in jobs) for jobs in (mails, cleanups, echoes)]
    assert done == [1, 2, 2]  # echoes have no class: only `max` bounds them
    assert all(job_row(job.pk).attempts == 0 for job in mails + cleanups if job_row(job.pk).status == "queued")


def test_a_zero_quota_runs_none_of_its_class_and_legacy_has_no_quota(tenant: Tenant, make_token: TokenMaker) -> None:
    mails = _of_type(tenant, "tests.mail_like", 2)

    assert _process(tenant, make_token, "max=5&emailMax=0").json()["processed"] == 0
    assert _process(tenant, make_token, "max=5&mode=legacy&emailMax=0").json()["processed"] == 2
    assert all(job_row(job.pk).status == "succeeded" for job in mails)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("mode=fast", "mode"),
        ("mode=", "mode"),
        ("emailMax=-1", "emailMax"),
        ("cleanupMax=51", "cleanupMax"),
        ("auditMax=one", "auditMax"),
        ("budget_ms=10001", "budget_ms"),
        ("max=0", "max"),
    ],
)
def test_queue_process_names_a_bad_mode_or_quota(
    tenant: Tenant, make_token: TokenMaker, query: str, parameter: str
) -> None:
    response = _process(tenant, make_token, query)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [parameter]


def test_every_class_and_sync_bound_is_declared_sensibly() -> None:
    from ballast.jobs.registry import get_handler

    assert get_handler("email.send").job_class == "email"
    assert get_handler("uploads.purge_trash").job_class == "cleanup"
    assert get_handler("periodic.ops.governance_report").job_class == "audit"
    for job_type in registered_types():
        spec = get_handler(job_type)
        # a bound above the largest budget would never let the trigger start it
        assert spec.sync_timeout is None or spec.sync_timeout * 1000 <= 10_000, job_type
