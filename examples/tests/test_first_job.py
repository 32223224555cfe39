"""The tests of docs/first-job.md: a task's function alone, the immediate backend, and the whole path through
the API, a real job and a worker's run in this process."""

from __future__ import annotations

from typing import Any

from django_tasks import TaskResultStatus
from rest_framework.test import APIClient

from ballast.jobs.services import enqueue
from ballast.jobs.testing import run_due_jobs
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from examples.tasks import add


def test_add_adds() -> None:
    assert add.call(2, 3) == 5


def test_add_through_the_immediate_backend(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

    result = add.enqueue(2, 3)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5


def test_the_view_enqueues_and_a_worker_runs_it(tenant: Tenant, make_token: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(tenant)}")

    posted = client.post("/api/v1/examples/add", {"a": 2, "b": 3}, format="json")
    assert posted.status_code == 202
    assert run_due_jobs().succeeded == 1

    read = client.get(f"/api/v1/examples/add/{posted.json()['id']}")
    assert read.json() == {"id": posted.json()["id"], "status": "SUCCESSFUL", "return_value": 5}


def test_count_words_runs_as_a_job(tenant: Tenant) -> None:
    with tenant_scope(tenant.pk):
        job = enqueue(tenant=tenant, job_type="examples.count_words", payload={"text": "one two three"})

    assert run_due_jobs().succeeded == 1
    with tenant_scope(tenant.pk):
        job.refresh_from_db()
    assert (job.status, job.result) == ("succeeded", {"words": 3})
