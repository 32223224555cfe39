"""Chains: a job that runs after another waits until that one succeeds, and is cancelled if it never will."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.test import Client

from ballast.jobs.services import EnqueueError, cancel_job, enqueue
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.ops.tests.conftest import reader  # noqa: F401  (fixture)
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant


def test_a_dependant_waits_for_its_parent_and_runs_once_it_succeeded(tenant: Tenant) -> None:
    with transaction.atomic():
        parent = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": "first"})
        child = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": "second"}, after=parent)
        grandchild = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": "third"}, after=child.pk)
    assert (child.status, job_row(child.pk).status, job_row(child.pk).depends_on_id) == (
        "waiting",
        "waiting",
        parent.pk,
    )

    assert run_due_jobs(job_type="diagnostics.echo", max_jobs=1).succeeded == 1  # only the parent was due
    assert job_row(child.pk).status == "queued"
    assert job_row(grandchild.pk).status == "waiting"

    run_due_jobs()

    assert [job_row(job.pk).status for job in (parent, child, grandchild)] == ["succeeded"] * 3
    assert job_row(parent.pk).finished_at <= job_row(child.pk).started_at  # type: ignore[operator]


def test_a_dead_lettered_parent_cancels_its_dependants_with_the_reason(tenant: Tenant) -> None:
    with transaction.atomic():
        parent = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1)
        child = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, after=parent)
        grandchild = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=child)

    run_due_jobs()

    assert job_row(parent.pk).status == "failed"
    assert (job_row(child.pk).status, job_row(child.pk).last_error) == (
        "cancelled",
        f"Job {parent.pk}, which this job runs after, failed",
    )
    assert (job_row(grandchild.pk).status, job_row(grandchild.pk).last_error) == (
        "cancelled",
        f"Job {child.pk}, which this job runs after, cancelled",
    )


def test_a_cancelled_parent_cancels_its_dependants(tenant: Tenant) -> None:
    parent = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    child = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=parent)

    cancel_job(job=parent, actor="ops:alice")

    assert job_row(child.pk).status == "cancelled"
    assert run_due_jobs().succeeded == 0


def test_a_dependant_enqueued_while_its_parent_ends_is_settled_by_that_end(tenant: Tenant) -> None:
    parent = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    marked, commit = threading.Event(), threading.Event()
    children: list[int] = []

    def enqueue_child() -> None:
        try:
            with tenant_scope(tenant.pk):
                children.append(
                    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=parent).pk
                )
                marked.set()
                commit.wait(10)
        finally:
            connections.close_all()

    def cancel_parent() -> None:
        try:
            cancel_job(job=parent, actor="ops:alice")
        finally:
            connections.close_all()

    enqueuer = threading.Thread(target=enqueue_child)
    enqueuer.start()
    assert marked.wait(10)
    canceller = threading.Thread(target=cancel_parent)
    canceller.start()
    canceller.join(0.5)
    assert canceller.is_alive()  # the parent's end waits for the dependant's enqueue to commit
    commit.set()
    enqueuer.join(10)
    canceller.join(10)

    assert job_row(parent.pk).status == "cancelled"
    assert job_row(children[0]).status == "cancelled"


def test_after_a_parent_that_already_succeeded_the_job_is_queued_at_once(tenant: Tenant) -> None:
    parent = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    run_due_jobs()

    child = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=parent)

    assert job_row(child.pk).status == "queued"


def test_a_parent_unknown_to_the_tenant_or_failed_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1})
    failed = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1)
    run_due_jobs(tenant_id=tenant.pk)

    with pytest.raises(EnqueueError, match=f"There is no job {theirs.pk} to run after"):
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=theirs)
    with pytest.raises(EnqueueError, match=f"Job {failed.pk} is failed"):
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=failed)
    assert job_row(theirs.pk).has_dependants is False


def test_a_dependants_console_page_links_to_its_parent(tenant: Tenant, reader: User) -> None:  # noqa: F811
    parent = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    child = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=parent)
    client = Client()
    client.force_login(reader)

    page = client.get("/admin/ops/jobs/", {"job": child.pk}).content.decode()

    assert f'<a href="?job={parent.pk}" id="runs-after">' in page


def test_a_real_worker_runs_a_chain_in_order(tenant: Tenant, processes: Processes) -> None:
    with transaction.atomic():
        first = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 0.1})
        second = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, after=first)
        third = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 3}, after=second)
    processes.worker("default")

    wait_for(lambda: job_row(third.pk).status == "succeeded", timeout=60, what="the chain's last job to succeed")

    rows = [job_row(job.pk) for job in (first, second, third)]
    assert rows[0].finished_at <= rows[1].started_at  # type: ignore[operator]
    assert rows[1].finished_at <= rows[2].started_at  # type: ignore[operator]
