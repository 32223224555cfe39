"""No job's acknowledgement, heartbeat or rescue waits on another job's handler; a killed worker loses only
the job it was running. Real rqworker and jobs_scheduler processes, a 4 s lease."""

from __future__ import annotations

from django.db import transaction

from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row, statuses
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.tenants.models import Tenant

LEASE = {"JOBS_LEASE_SECONDS": "4", "JOBS_WAKE_TTL_SECONDS": "4"}


def test_a_long_job_between_two_quick_ones_runs_once_and_is_never_taken_back(
    tenant: Tenant, processes: Processes
) -> None:
    # One transaction, one wake-up: echo, a 12 s sleep with a single step (no checkpoint for 12 s), echo.
    with transaction.atomic():
        first = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        sleep = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 12, "steps": 1})
        last = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2})
    ids = [first.pk, sleep.pk, last.pk]

    processes.scheduler(settings=LEASE)
    processes.worker("default", name="worker-1", settings=LEASE)
    processes.worker("default", name="worker-2", settings=LEASE)
    wait_for(lambda: statuses(ids) == {"succeeded": 3}, timeout=60, what="all three jobs to succeed")

    assert [job_row(job_id).attempts for job_id in ids] == [1, 1, 1]
    outcomes = list(JobAttempt.objects.unscoped().filter(job_id__in=ids).values_list("outcome", flat=True))
    assert outcomes == ["succeeded"] * 3  # no lost attempt, no lease lost
    logs = processes.log("worker-1") + processes.log("worker-2") + processes.log("scheduler")
    assert "DeadlockDetected" not in logs and "deadlock" not in logs.lower()


def test_jobs_a_killed_worker_had_not_started_are_not_charged_an_attempt(tenant: Tenant, processes: Processes) -> None:
    with transaction.atomic():
        sleep = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 6, "steps": 6}, priority=5)
        waiting = [enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": i}).pk for i in range(10)]
    doomed = processes.worker("default", name="doomed", settings=LEASE)
    wait_for(lambda: job_row(sleep.pk).status == "running", timeout=30, what="the long job to start")

    processes.kill(doomed)  # SIGKILL while the long job runs and ten more wait in its wake-up's queue

    assert Job.objects.unscoped().filter(pk__in=waiting, attempts=0, status="queued").count() == 10
    processes.scheduler(settings=LEASE)
    processes.worker("default", name="rescuer", settings=LEASE)
    wait_for(lambda: statuses(waiting) == {"succeeded": 10}, timeout=60, what="the waiting jobs to run")
    assert Job.objects.unscoped().filter(pk__in=waiting, attempts=1).count() == 10
    wait_for(lambda: job_row(sleep.pk).status == "succeeded", timeout=60, what="the long job to resume and finish")
    assert job_row(sleep.pk).attempts == 2
    lost = JobAttempt.objects.unscoped().filter(job_id=sleep.pk, outcome="lost").count()
    assert lost == 1  # only the job that was running lost an attempt
