"""The batches console through Django's test client: each batch with its progress, members and callbacks,
filters refused with 400 when unknown, and cancel through ballast.jobs.batches, refused without the permission."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from ballast.jobs.batches import enqueue_batch
from ballast.jobs.models import Batch, Job
from ballast.jobs.services import NewJob
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests.conftest import other_tenant  # noqa: F401  (fixture)
from ballast.tenants.models import AuditEntry, Tenant

PAGE = "/admin/ops/batches/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _batch(tenant: Tenant, size: int = 3) -> Batch:
    return enqueue_batch(
        tenant=tenant,
        jobs=[NewJob(job_type="diagnostics.echo", payload={"value": n}) for n in range(size)],
        on_complete=NewJob(job_type="diagnostics.echo", payload={"value": "done"}),
        description="nightly import",
    )


def test_the_page_lists_each_batch_with_progress_members_and_callbacks(
    operator: User,
    tenant: Tenant,
    other_tenant: Tenant,  # noqa: F811
) -> None:
    done = _batch(tenant, size=2)
    run_due_jobs(tenant_id=tenant.pk)
    running = _batch(other_tenant, size=3)

    page = logged_in(operator).get(PAGE).content.decode()

    assert f'data-batch="{done.pk}" data-tenant="acme"' in page
    assert f'data-batch="{running.pk}" data-tenant="globex"' in page
    assert "2 of 2 (100%): 2 succeeded, 0 failed, 0 cancelled" in page
    assert "0 of 3 (0%)" in page and "queued 3" in page
    assert f'?job={done.on_complete_job_id}">{done.on_complete_job_id}</a> succeeded' in page
    assert f'?job={running.on_complete_job_id}">{running.on_complete_job_id}</a> waiting' in page

    only_running = logged_in(operator).get(PAGE, {"state": "running", "tenant": "globex"}).content.decode()
    assert f'data-batch="{running.pk}"' in only_running and f'data-batch="{done.pk}"' not in only_running
    members = logged_in(operator).get(PAGE, {"batch": running.pk}).content.decode()
    member_ids = Job.objects.unscoped().filter(batch_id=running.pk).values_list("pk", flat=True)
    assert all(f'<tr data-job="{job_id}">' in members for job_id in member_ids)


def test_unknown_filters_are_a_400_that_says_what_is_wrong(operator: User, tenant: Tenant) -> None:
    client = logged_in(operator)
    for query, reason in [
        ({"state": "lost"}, "Unknown state &#x27;lost&#x27;"),
        ({"tenant": "nobody"}, "There is no tenant"),
        ({"batch": "424242"}, "There is no batch 424242"),
    ]:
        response = client.get(PAGE, query)
        assert response.status_code == 400, query
        assert reason in response.content.decode(), query


def test_cancel_cancels_the_queued_members_audited_as_the_operator(operator: User, tenant: Tenant) -> None:
    batch = _batch(tenant)

    response = logged_in(operator).post(f"{PAGE}?tenant=acme", {"action": "cancel", "batch_id": batch.pk})

    assert response.status_code == 302 and response["Location"] == f"{PAGE}?tenant=acme"
    statuses = set(Job.objects.unscoped().filter(batch_id=batch.pk).values_list("status", flat=True))
    assert statuses == {"cancelled"}
    entry = AuditEntry.objects.unscoped().get(action="batch.cancelled", target_id=str(batch.pk))
    assert entry.actor.endswith("operator")


def test_a_reader_sees_no_cancel_and_is_refused_on_post(reader: User, tenant: Tenant) -> None:
    batch = _batch(tenant)
    client = logged_in(reader)
    assert 'value="cancel"' not in client.get(PAGE).content.decode()
    assert client.post(PAGE, {"action": "cancel", "batch_id": batch.pk}).status_code == 403
    assert not Job.objects.unscoped().filter(batch_id=batch.pk, status="cancelled").exists()
