"""Many jobs per worker process (JOBS_WORKER_CONCURRENCY, `rqworker --concurrency N`), with real processes: the
jobs of one process overlap, a killed process's jobs are rescued and run once, per-type caps hold across its
threads, a stop waits for every running job, a quiet worker takes nothing; and handler deadlines in threads."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.db import connections, transaction
from rq import Worker
from rq.worker import BaseWorker

from ballast.jobs import wakeups
from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import statuses
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.jobs.worker import commands
from ballast.jobs.worker.heartbeat import Heartbeat
from ballast.jobs.worker.timeouts import JobTimeout, deadline
from ballast.tenants.models import Tenant

pytestmark = pytest.mark.timeout(120)


def _sleepers(tenant: Tenant, count: int, seconds: float) -> list[int]:
    with transaction.atomic():
        return [
            enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": seconds}).pk for _ in range(count)
        ]


@dataclass(frozen=True)
class Started:
    name: str  # its RQ name
    hostname: str
    process: subprocess.Popen[bytes]


def _concurrent_worker(processes: Processes, concurrency: int, name: str = "worker", **env: str) -> Started:
    """A worker started with --concurrency, once it is registered and its slots are up."""
    process = processes.start("rqworker", "default", "--concurrency", str(concurrency), name=name, **env)
    wait_for(
        lambda: f"running up to {concurrency} wake-ups at once" in processes.log(name),
        timeout=60,
        what=f"{name} ready",
    )

    def registered() -> list[BaseWorker]:
        return [w for w in Worker.all(connection=wakeups.redis_connection()) if w.pid == process.pid]

    # The slots log before RQ records the worker's birth in Redis: wait for that too.
    wait_for(lambda: bool(registered()), timeout=10, what=f"{name} registered")
    found = registered()
    return Started(found[0].name, str(found[0].hostname), process)


def _attempts(ids: list[int]) -> list[tuple[int, str, datetime, datetime | None]]:
    return list(
        JobAttempt.objects.unscoped()
        .filter(job_id__in=ids)
        .order_by("started_at")
        .values_list("job_id", "outcome", "started_at", "finished_at")
    )


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_one_process_at_concurrency_8_runs_8_half_second_jobs_at_once(tenant: Tenant, processes: Processes) -> None:
    _concurrent_worker(processes, 8)

    began = time.monotonic()
    ids = _sleepers(tenant, 8, 0.5)
    wait_for(lambda: statuses(ids) == {"succeeded": 8}, timeout=30, interval=0.02, what="the batch")
    elapsed = time.monotonic() - began

    assert elapsed < 2.0, f"8 jobs of 0.5 s took {elapsed:.2f} s in one process at concurrency 8"
    attempts = _attempts(ids)
    assert len(attempts) == 8 and {outcome for _, outcome, _, _ in attempts} == {"succeeded"}
    assert _most_at_once([(start, end) for _, _, start, end in attempts if end]) >= 4
    assert len({worker for worker in JobAttempt.objects.unscoped().values_list("worker", flat=True)}) == 1


def test_a_killed_process_at_concurrency_4_loses_its_4_running_jobs_to_rescue_and_each_runs_once(
    tenant: Tenant, processes: Processes
) -> None:
    doomed = _concurrent_worker(processes, 4, name="doomed")
    ids = _sleepers(tenant, 4, 3)
    wait_for(lambda: statuses(ids) == {"running": 4}, timeout=30, what="the 4 jobs running in one process")

    processes.kill(doomed.process)
    processes.scheduler()
    _concurrent_worker(processes, 4, name="rescuer")
    wait_for(lambda: statuses(ids) == {"succeeded": 4}, timeout=60, what="every job rescued and run")

    for job_id in ids:
        attempts = [(outcome, start, end) for job, outcome, start, end in _attempts(ids) if job == job_id]
        assert [outcome for outcome, _, _ in attempts] == ["lost", "succeeded"]
        assert Job.objects.unscoped().get(pk=job_id).attempts == 2
        (_, lost_end), (again_start, _) = [(start, end) for _, start, end in attempts]
        assert lost_end is not None and again_start >= lost_end  # never two attempts of one job at once


def test_a_type_capped_at_1_never_runs_twice_at_once_in_a_process_at_concurrency_4(
    tenant: Tenant, other_tenant: Tenant, processes: Processes
) -> None:
    processes.scheduler()  # wakes the jobs the cap sent back
    _concurrent_worker(processes, 4, JOBS_CONCURRENCY="diagnostics.sleep=1")
    ids = _sleepers(tenant, 3, 0.3) + _sleepers(other_tenant, 3, 0.3)

    wait_for(lambda: statuses(ids) == {"succeeded": 6}, timeout=60, what="every capped job")

    attempts = _attempts(ids)
    assert [outcome for _, outcome, _, _ in attempts] == ["succeeded"] * 6  # the cap charges no attempt
    assert _most_at_once([(start, end) for _, _, start, end in attempts if end]) == 1


def test_a_sigterm_waits_for_every_running_job_and_a_stop_command_too(tenant: Tenant, processes: Processes) -> None:
    first = _concurrent_worker(processes, 4, name="first")
    ids = _sleepers(tenant, 3, 1.5)
    wait_for(lambda: statuses(ids) == {"running": 3}, timeout=30, what="3 jobs running")

    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=20)
    assert first.process.returncode == 0, processes.log("first")
    assert statuses(ids) == {"succeeded": 3}
    assert [outcome for _, outcome, _, _ in _attempts(ids)] == ["succeeded"] * 3

    second = _concurrent_worker(processes, 4, name="second")
    more = _sleepers(tenant, 2, 1.5)
    wait_for(lambda: statuses(more) == {"running": 2}, timeout=30, what="2 jobs running")
    commands.stop(wakeups.redis_connection(), second.name)
    process = second.process
    process.wait(timeout=20)
    assert process.returncode == 0, processes.log("second")
    assert statuses(more) == {"succeeded": 2}


def test_a_quiet_worker_at_concurrency_4_takes_no_new_job(
    tenant: Tenant, other_tenant: Tenant, processes: Processes
) -> None:
    quiet = _concurrent_worker(processes, 4, name="quiet")
    commands.quiet(wakeups.redis_connection(), quiet.name)
    wait_for(lambda: "quiet: taking no new wake-up" in processes.log("quiet"), timeout=10, what="quiet")
    busy = processes.worker("default", name="busy")

    ids = _sleepers(tenant, 2, 0.2) + _sleepers(other_tenant, 2, 0.2)
    wait_for(lambda: statuses(ids) == {"succeeded": 4}, timeout=30, what="every job run by the other worker")

    workers = set(JobAttempt.objects.unscoped().filter(job_id__in=ids).values_list("worker", flat=True))
    assert workers == {f"{quiet.hostname}:{busy.pid}"}
    assert quiet.process.poll() is None


def _in_thread(block: Callable[[], None]) -> BaseException | None:
    caught: list[BaseException | None] = [None]

    def run() -> None:
        try:
            block()
        except BaseException as exc:
            caught[0] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    return caught[0]


def test_a_deadline_outside_the_main_thread_interrupts_the_handler() -> None:
    def busy() -> None:
        with deadline(0.2):
            ends = time.monotonic() + 5
            while time.monotonic() < ends:
                pass

    began = time.monotonic()
    caught = _in_thread(busy)

    assert isinstance(caught, JobTimeout) and "timeout of 0.2 s" in str(caught)
    assert time.monotonic() - began < 2


def test_a_deadline_outside_the_main_thread_never_fires_after_its_block() -> None:
    def quick() -> None:
        with deadline(0.05):
            pass
        time.sleep(0.2)  # past the deadline, outside its block
        for _ in range(100_000):
            pass

    assert _in_thread(quick) is None


def test_the_heartbeat_extends_the_lease_of_every_thread_s_running_job() -> None:
    heartbeat = Heartbeat()
    started = threading.Barrier(4)
    done = threading.Event()

    def run(job_id: int) -> None:
        heartbeat.start_job(job_id, wakeups.uuid.uuid4())
        started.wait()
        done.wait(5)
        heartbeat.end_job()

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in (101, 102, 103)]
    for thread in threads:
        thread.start()
    started.wait()
    assert sorted(heartbeat.running_jobs()) == [101, 102, 103]
    done.set()
    for thread in threads:
        thread.join()
    assert heartbeat.running_jobs() == []
    connections["system"].close()
