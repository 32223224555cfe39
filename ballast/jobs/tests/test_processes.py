"""Crash and recovery with real processes: rqworker, jobs_scheduler, SIGKILL, a flushed Redis."""

from __future__ import annotations

import signal
import time

import django_rq
import pytest
from django.db import connections, transaction

from ballast.jobs import wakeups
from ballast.jobs.models import DeadLetter, Job, JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row, queue_length, statuses
from ballast.jobs.tests.processes import FAST_SETTINGS, Processes, wait_for
from ballast.tenants.models import Tenant


def _enqueue_many(tenant: Tenant, count: int, job_type: str = "diagnostics.echo", **payload: object) -> list[int]:
    with transaction.atomic():
        return [
            enqueue(tenant=tenant, job_type=job_type, payload=payload or {"value": index}).pk for index in range(count)
        ]


def _all_succeeded(ids: list[int]) -> bool:
    return statuses(ids) == {"succeeded": len(ids)}


def test_an_rqworker_in_burst_mode_runs_enqueued_jobs_end_to_end(tenant: Tenant, processes: Processes) -> None:
    ids = _enqueue_many(tenant, 3)

    worker = processes.worker("default", burst=True)
    worker.wait(timeout=60)

    assert worker.returncode == 0, processes.log("worker")
    assert _all_succeeded(ids)
    assert [job_row(i).result for i in ids] == [{"value": 0}, {"value": 1}, {"value": 2}]


def test_two_workers_racing_for_one_job_run_it_exactly_once(tenant: Tenant, processes: Processes) -> None:
    (job_id,) = _enqueue_many(tenant, 1, "diagnostics.sleep", seconds=0.5)
    for index in range(5):  # duplicates: every worker gets a wake-up for the same queue and tenant
        wakeups._push_messages([("default", wakeups._message("default", tenant.pk, f"extra-{index}", False))])
    assert queue_length() == 6

    first = processes.worker("default", burst=True, name="worker-1")
    second = processes.worker("default", burst=True, name="worker-2")
    first.wait(timeout=60)
    second.wait(timeout=60)

    assert job_row(job_id).status == "succeeded"
    assert job_row(job_id).attempts == 1
    assert list(JobAttempt.objects.unscoped().filter(job_id=job_id).values_list("outcome", flat=True)) == ["succeeded"]
    assert "Job OK" in processes.log("worker-1") and "Job OK" in processes.log("worker-2")  # both took messages


def test_a_worker_killed_mid_job_is_recovered_and_the_job_resumes_from_its_checkpoint(
    tenant: Tenant, processes: Processes
) -> None:
    (job_id,) = _enqueue_many(tenant, 1, "diagnostics.sleep", seconds=4, steps=8)
    doomed = processes.worker("default", name="doomed")

    def checkpointed() -> bool:
        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT max(sequence) FROM jobs_checkpoint WHERE job_id = %s", [job_id])
            return (cursor.fetchone()[0] or 0) >= 2

    wait_for(checkpointed, timeout=30, what="two checkpoints")
    processes.kill(doomed)  # SIGKILL: no clean-up, the lease is left to expire
    assert job_row(job_id).status == "running"

    processes.scheduler()
    processes.worker("default", name="rescuer")
    wait_for(lambda: job_row(job_id).status == "succeeded", timeout=60, what="the job to finish")

    job = job_row(job_id)
    assert job.attempts == 2
    assert job.result is not None
    assert job.result["steps_done"] == 8 and job.result["resumed_from"] >= 2
    attempts = list(
        JobAttempt.objects.unscoped().filter(job_id=job_id).order_by("attempt").values_list("outcome", flat=True)
    )
    assert attempts == ["lost", "succeeded"]


def test_jobs_survive_a_redis_flush_after_enqueue(tenant: Tenant, processes: Processes) -> None:
    ids = _enqueue_many(tenant, 5)
    assert queue_length() == 1
    django_rq.get_connection("default").flushdb()  # every message is gone

    processes.scheduler()
    processes.worker("default")
    wait_for(lambda: _all_succeeded(ids), timeout=60, what="every job to succeed")

    assert "'woken': 1" in processes.log("scheduler")  # the scheduler woke the queue Redis forgot


def test_a_full_stop_and_restart_of_every_process_loses_no_job(tenant: Tenant, processes: Processes) -> None:
    ids = _enqueue_many(tenant, 60, "diagnostics.sleep", seconds=0.05)
    processes.scheduler(name="scheduler-1")
    worker = processes.worker("default", name="worker-1")
    wait_for(lambda: statuses(ids).get("succeeded", 0) >= 5, timeout=60, what="some progress")

    processes.kill(worker)
    processes.stop_all()  # the scheduler too
    django_rq.get_connection("default").flushdb()  # and Redis restarts empty
    assert 0 < statuses(ids).get("succeeded", 0) < len(ids)

    processes.scheduler(name="scheduler-2")
    processes.worker("default", name="worker-2")
    wait_for(lambda: _all_succeeded(ids), timeout=90, what="every job to succeed after the restart")

    assert Job.objects.unscoped().filter(pk__in=ids, attempts__gt=2).count() == 0


def test_a_retry_and_a_dead_letter_happen_without_help(tenant: Tenant, processes: Processes) -> None:
    with transaction.atomic():
        flaky = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "once", "fail_times": 1})
        broken = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "always"})

    processes.scheduler()
    processes.worker("default")
    wait_for(
        lambda: job_row(flaky.pk).status == "succeeded" and job_row(broken.pk).status == "failed",
        timeout=60,
        what="the flaky job to succeed and the broken one to fail",
    )

    assert job_row(flaky.pk).attempts == 2
    assert job_row(broken.pk).attempts == 3
    assert DeadLetter.objects.unscoped().filter(job_id=broken.pk, reason="exhausted").count() == 1


def _leader_pid() -> int | None:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT holder FROM jobs_schedulerleader WHERE expires_at > now()")
        row = cursor.fetchone()
    return int(row[0].rsplit(":", 1)[1]) if row else None


def _takeover(tenant: Tenant, processes: Processes, signal_name: str) -> None:
    first = processes.scheduler(name="scheduler-a")
    second = processes.scheduler(name="scheduler-b")
    wait_for(lambda: _leader_pid() in (first.pid, second.pid), timeout=30, what="a leader")
    leader, standby = (first, second) if _leader_pid() == first.pid else (second, first)

    if signal_name == "SIGKILL":
        processes.kill(leader)
    else:
        leader.send_signal(signal.SIGSTOP)  # alive, connected, silent: it cannot step down by itself
    lost_at = time.monotonic()
    wait_for(lambda: _leader_pid() == standby.pid, timeout=30, what="the standby to take over")
    took = time.monotonic() - lost_at

    # Work keeps flowing under the new leader, with a flushed Redis; the old one comes back as a standby.
    ids = _enqueue_many(tenant, 20)
    django_rq.get_connection("default").flushdb()
    if signal_name == "SIGSTOP":
        leader.send_signal(signal.SIGCONT)
    processes.worker("default")
    wait_for(lambda: _all_succeeded(ids), timeout=60, what="the new leader to dispatch")

    lease = float(FAST_SETTINGS["JOBS_LEASE_SECONDS"])
    assert took <= lease + 1.5, f"takeover took {took:.1f} s with a {lease:.0f} s lease"
    assert Job.objects.unscoped().filter(pk__in=ids, attempts__gt=1).count() == 0  # none ran twice
    assert _leader_pid() == standby.pid


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_a_standby_scheduler_takes_over_within_one_lease_when_the_leader_dies_or_hangs(
    tenant: Tenant, processes: Processes, signal_name: str
) -> None:
    try:
        _takeover(tenant, processes, signal_name)
    finally:
        for process in processes.running:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
