"""Rolling deploys: a web that enqueues a job type before the workers know it (a worker older than the web)."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.db.models.functions import Now
from django.utils import timezone

from ballast.jobs.models import DeadLetter, Job, JobAttempt, WorkerPresence
from ballast.jobs.services import enqueue
from ballast.jobs.tests import handlers  # noqa: F401  (registers NEWER_TYPE in this process)
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.jobs.worker.run import run_pair
from ballast.ops import alerts
from ballast.tenants.models import Tenant

# Registered in this test process only (jobs/tests/handlers.py): to a worker process it is newer code's type.
NEWER_TYPE = "tests.write_and_succeed"


def test_a_job_of_a_type_the_worker_does_not_know_waits_uncharged_for_a_worker_that_does(
    tenant: Tenant, processes: Processes
) -> None:
    with transaction.atomic():
        newer = enqueue(tenant=tenant, job_type=NEWER_TYPE, payload={})
        known = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    before = timezone.now()

    worker = processes.worker("default", burst=True, settings={"JOBS_UNKNOWN_TYPE_DELAY_SECONDS": "60"})
    worker.wait(timeout=60)

    assert worker.returncode == 0, processes.log("worker")
    row = job_row(newer.pk)
    assert (row.status, row.attempts) == ("queued", 0)  # back in the queue, no attempt charged
    assert row.available_at >= before + timedelta(seconds=50)  # for the delay, not at once
    assert not JobAttempt.objects.unscoped().filter(job_id=newer.pk).exists()
    assert not DeadLetter.objects.unscoped().filter(job_id=newer.pk).exists()
    assert job_row(known.pk).status == "succeeded"  # the rest of the queue went on
    assert f"of type '{NEWER_TYPE}', unknown to this worker" in processes.log("worker")

    # A newer worker (this process knows the type) runs it once it is due: one attempt, attempt number 1.
    Job.objects.unscoped().filter(pk=newer.pk).update(available_at=Now())
    report = run_pair("default", tenant.pk)

    assert report.count("succeeded") == 1
    assert (job_row(newer.pk).status, job_row(newer.pk).attempts) == ("succeeded", 1)


def test_a_worker_claims_a_type_it_does_not_know_once_then_leaves_it_to_others(
    tenant: Tenant, other_tenant: Tenant, processes: Processes
) -> None:
    with transaction.atomic():
        jobs = [enqueue(tenant=owner, job_type=NEWER_TYPE, payload={}) for owner in (tenant, other_tenant)]
    due = {job.pk: job_row(job.pk).available_at for job in jobs}

    worker = processes.worker("default", burst=True, settings={"JOBS_UNKNOWN_TYPE_DELAY_SECONDS": "60"})
    worker.wait(timeout=60)

    # Each tenant's wake-up ran separately; the second found the type already known to be unknown.
    assert processes.log("worker").count("unknown to this worker") == 1
    moved = [job.pk for job in jobs if job_row(job.pk).available_at != due[job.pk]]
    assert len(moved) == 1
    assert all(job_row(job.pk).attempts == 0 and job_row(job.pk).status == "queued" for job in jobs)


def test_workers_publish_the_types_they_know_and_a_type_none_knows_raises_an_alert(
    tenant: Tenant, processes: Processes, settings: pytest.FixtureRequest
) -> None:
    settings.JOBS_UNKNOWN_TYPE_GRACE_SECONDS = 0  # type: ignore[attr-defined]
    worker = processes.worker(settings={"JOBS_PRESENCE_SECONDS": "0.2"})
    wait_for(lambda: WorkerPresence.objects.exists(), timeout=30, what="the worker's presence")
    presence = WorkerPresence.objects.get()
    assert presence.identity.endswith(f":{worker.pid}")
    assert presence.queues == ["maintenance", "default", "email", "webhooks"]
    assert "diagnostics.echo" in presence.job_types and NEWER_TYPE not in presence.job_types

    with transaction.atomic():
        # Scheduled ahead, so the live worker does not bounce it while the alert is evaluated.
        enqueue(tenant=tenant, job_type=NEWER_TYPE, payload={}, run_at=timezone.now() + timedelta(hours=1))

    (condition,) = [c for c in alerts.conditions() if c.rule == "unknown_type"]
    assert condition.subject == NEWER_TYPE and "no live worker knows the type" in condition.title

    worker.send_signal(signal.SIGTERM)  # a clean stop withdraws the presence
    worker.wait(timeout=30)
    for connection in connections.all():
        connection.close()
    assert not WorkerPresence.objects.exists()
    assert not [c for c in alerts.conditions() if c.rule == "unknown_type"]  # no live worker: no_worker's case
