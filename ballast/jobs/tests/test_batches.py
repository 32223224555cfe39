"""Batches: members counted as they end, callbacks released once by the last of them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from ballast.jobs.batches import cancel_batch, enqueue_batch
from ballast.jobs.models import Batch, Job, JobAttempt
from ballast.jobs.services import EnqueueError, NewJob, cancel_job
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.ops.tests.conftest import reader  # noqa: F401  (fixture)
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.audit import SYSTEM_ACTOR
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Role, Tenant
from ballast.tenants.tests.conftest import client_for


def _echoes(count: int) -> list[NewJob]:
    return [NewJob(job_type="diagnostics.echo", payload={"value": index}) for index in range(count)]


def _batch(batch_id: int) -> Batch:
    return Batch.objects.unscoped().get(pk=batch_id)


def test_the_callbacks_wait_until_the_last_member_ends_then_run_once_with_the_counts(tenant: Tenant) -> None:
    batch = enqueue_batch(
        tenant=tenant,
        jobs=[*_echoes(3), NewJob(job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1)],
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "complete"}),
        on_success=NewJob(job_type="diagnostics.echo", payload={"value": "success"}),
    )
    assert batch.on_complete_job_id is not None and batch.on_success_job_id is not None
    assert job_row(batch.on_complete_job_id).status == "waiting"

    run_due_jobs()

    counts = {"id": batch.pk, "total": 4, "succeeded": 3, "failed": 1, "cancelled": 0}
    on_complete = job_row(batch.on_complete_job_id)
    assert on_complete.status == "succeeded"
    assert on_complete.payload == {"value": "complete", "batch": counts}
    assert JobAttempt.objects.unscoped().filter(job_id=on_complete.pk).count() == 1
    on_success = job_row(batch.on_success_job_id)
    assert on_success.status == "cancelled"
    assert on_success.last_error == f"Batch {batch.pk} ended with 1 failed and 0 cancelled of 4"
    finished = _batch(batch.pk)
    assert (finished.succeeded, finished.failed, finished.cancelled) == (3, 1, 0)
    assert finished.finished_at is not None
    assert AuditEntry.objects.unscoped().filter(action="batch.enqueued", target_id=str(batch.pk)).count() == 1


def test_on_success_runs_when_every_member_succeeded(tenant: Tenant) -> None:
    batch = enqueue_batch(
        tenant=tenant, jobs=_echoes(2), on_success=NewJob(job_type="diagnostics.echo", payload={"value": "ok"})
    )

    assert run_due_jobs().succeeded == 3

    assert batch.on_success_job_id is not None
    assert job_row(batch.on_success_job_id).payload["batch"] == {
        "id": batch.pk,
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "cancelled": 0,
    }


def test_a_retried_member_counts_once(tenant: Tenant) -> None:
    batch = enqueue_batch(
        tenant=tenant,
        jobs=[NewJob(job_type="diagnostics.fail", payload={"message": "later", "fail_times": 1}), *_echoes(1)],
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "done"}),
    )
    run_due_jobs(max_jobs=2)  # each member once (a backoff of jitter near 0 would make the flaky one due again)
    assert _batch(batch.pk).finished_at is None
    assert batch.on_complete_job_id is not None
    assert job_row(batch.on_complete_job_id).status == "waiting"


def test_cancelling_a_batch_cancels_its_queued_members_and_completes_it(tenant: Tenant) -> None:
    batch = enqueue_batch(
        tenant=tenant,
        jobs=_echoes(3),
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "complete"}),
        on_success=NewJob(job_type="diagnostics.echo", payload={"value": "success"}),
    )

    assert cancel_batch(batch=batch, actor="ops:alice") == 3
    assert cancel_batch(batch=batch, actor="ops:alice") == 0

    members = Job.objects.unscoped().filter(batch_id=batch.pk)
    assert set(members.values_list("status", flat=True)) == {"cancelled"}
    assert batch.on_complete_job_id is not None and batch.on_success_job_id is not None
    assert job_row(batch.on_complete_job_id).status == "queued"
    assert job_row(batch.on_complete_job_id).payload["batch"]["cancelled"] == 3
    assert job_row(batch.on_success_job_id).status == "cancelled"
    assert AuditEntry.objects.unscoped().filter(action="batch.cancelled", actor="ops:alice").count() == 2


def test_a_waiting_callback_can_be_cancelled_and_the_batch_still_finishes(tenant: Tenant) -> None:
    batch = enqueue_batch(
        tenant=tenant, jobs=_echoes(1), on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "done"})
    )
    assert batch.on_complete_job_id is not None

    cancel_job(job=job_row(batch.on_complete_job_id), actor="ops:alice")
    run_due_jobs()

    assert job_row(batch.on_complete_job_id).status == "cancelled"
    assert _batch(batch.pk).finished_at is not None


def test_a_batch_is_its_tenants_alone(tenant: Tenant, other_tenant: Tenant) -> None:
    batch = enqueue_batch(tenant=tenant, jobs=_echoes(1))

    with transaction.atomic(), tenant_scope(other_tenant.pk):
        assert not Batch.objects.filter(pk=batch.pk).exists()
    with transaction.atomic(), tenant_scope(tenant.pk):
        assert Batch.objects.filter(pk=batch.pk).exists()


def test_the_api_shows_a_batchs_progress_and_cancels_it(tenant: Tenant, make_token: TokenMaker) -> None:
    batch = enqueue_batch(
        tenant=tenant, jobs=_echoes(3), on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "done"})
    )
    run_due_jobs(job_type="diagnostics.echo", max_jobs=1)
    client = client_for(make_token(tenant, Role.ADMIN))

    body = client.get(f"/api/v1/batches/{batch.pk}").json()
    assert (body["total"], body["succeeded"], body["pending"]) == (3, 1, 2)
    assert (body["members"]["succeeded"], body["members"]["queued"]) == (1, 2)
    assert body["on_complete_job_id"] == batch.on_complete_job_id and body["finished_at"] is None
    member = Job.objects.unscoped().filter(batch_id=batch.pk).first()
    assert member is not None
    assert client.get(f"/api/v1/jobs/{member.pk}").json()["batch_id"] == batch.pk

    viewer = client_for(make_token(tenant, Role.VIEWER))
    assert viewer.post(f"/api/v1/batches/{batch.pk}/cancel").status_code == 403
    cancelled = client.post(f"/api/v1/batches/{batch.pk}/cancel").json()
    assert (cancelled["cancelled"], cancelled["pending"], cancelled["members"]["cancelled"]) == (2, 0, 2)
    assert cancelled["finished_at"] is not None


def test_a_members_console_page_shows_its_batch(tenant: Tenant, reader: User) -> None:  # noqa: F811
    batch = enqueue_batch(
        tenant=tenant,
        jobs=_echoes(2),
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "done"}),
        description="nightly import",
    )
    run_due_jobs(job_type="diagnostics.echo", max_jobs=1)
    member = Job.objects.unscoped().filter(batch_id=batch.pk).order_by("id").first()
    assert member is not None
    client = Client()
    client.force_login(reader)

    page = client.get("/admin/ops/jobs/", {"job": member.pk}).content.decode()

    assert f'data-batch="{batch.pk}"' in page and "nightly import" in page
    assert "1 of 2: 1 succeeded, 0 failed, 0 cancelled" in page
    assert f'href="?job={batch.on_complete_job_id}"' in page


def test_another_tenants_batch_answers_404(tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker) -> None:
    theirs = enqueue_batch(tenant=other_tenant, jobs=_echoes(1))
    client = client_for(make_token(tenant, Role.ADMIN))

    assert client.get(f"/api/v1/batches/{theirs.pk}").status_code == 404
    assert client.post(f"/api/v1/batches/{theirs.pk}/cancel").status_code == 404
    assert Job.objects.unscoped().get(batch_id=theirs.pk).status == "queued"


def test_the_schema_documents_the_batches_api(committed: None) -> None:
    from rest_framework.test import APIClient

    paths = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"/api/v1/batches/{batch_id}", "/api/v1/batches/{batch_id}/cancel"} <= set(paths)


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([], "A batch needs at least one job"),
        ([NewJob(job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="k")], "no idempotency key"),
        ([NewJob(job_type="diagnostics.echo", payload={"wrong": 1})], "value"),
    ],
)
def test_a_bad_batch_is_refused_whole(tenant: Tenant, jobs: list[NewJob], message: str) -> None:
    with pytest.raises(EnqueueError, match=message):
        enqueue_batch(tenant=tenant, jobs=[*_echoes(1), *jobs] if jobs else jobs, actor=SYSTEM_ACTOR)

    assert not Batch.objects.unscoped().exists()
    assert not Job.objects.unscoped().exists()


def test_two_workers_ending_the_last_members_at_once_fire_the_callback_once(
    tenant: Tenant, processes: Processes
) -> None:
    sleeps = [NewJob(job_type="diagnostics.sleep", payload={"seconds": 0.1}) for _ in range(50)]
    batch = enqueue_batch(
        tenant=tenant,
        jobs=sleeps,
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "complete"}),
        on_success=NewJob(job_type="diagnostics.echo", payload={"value": "success"}),
    )
    processes.worker("default", name="worker-1")
    processes.worker("default", name="worker-2")

    ids = [batch.on_complete_job_id, batch.on_success_job_id]
    wait_for(
        lambda: set(Job.objects.unscoped().filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"},
        timeout=60,
        what="both callbacks to succeed",
    )

    counts = {"id": batch.pk, "total": 50, "succeeded": 50, "failed": 0, "cancelled": 0}
    for callback in Job.objects.unscoped().filter(pk__in=ids):
        assert callback.payload["batch"] == counts
        assert JobAttempt.objects.unscoped().filter(job_id=callback.pk).count() == 1
    workers = set(JobAttempt.objects.unscoped().filter(job__batch_id=batch.pk).values_list("worker", flat=True))
    assert len(workers) == 2, workers  # both workers ran members


def test_a_batch_of_100_run_by_real_workers_fires_on_complete_once_with_the_counts(
    tenant: Tenant, processes: Processes
) -> None:
    members = [NewJob(job_type="diagnostics.echo", payload={"value": n}) for n in range(90)]
    members += [NewJob(job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1) for _ in range(10)]
    batch = enqueue_batch(
        tenant=tenant,
        jobs=members,
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "complete"}),
        on_success=NewJob(job_type="diagnostics.echo", payload={"value": "success"}),
    )
    processes.worker("default", name="worker-1")
    processes.worker("default", name="worker-2")

    wait_for(
        lambda: Job.objects.unscoped().get(pk=batch.on_complete_job_id).status == "succeeded",
        timeout=90,
        what="on_complete to succeed",
    )

    complete = Job.objects.unscoped().get(pk=batch.on_complete_job_id)
    assert complete.payload["batch"] == {"id": batch.pk, "total": 100, "succeeded": 90, "failed": 10, "cancelled": 0}
    assert JobAttempt.objects.unscoped().filter(job_id=complete.pk).count() == 1
    assert Job.objects.unscoped().get(pk=batch.on_success_job_id).status == "cancelled"
    assert JobAttempt.objects.unscoped().filter(job_id=batch.on_success_job_id).count() == 0
