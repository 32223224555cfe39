"""Redis down or hung, with real processes: enqueues keep answering, workers wait instead of quitting, a running
job completes in Postgres, and the scheduler repairs the wake-ups once Redis is back."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from rq import Worker

from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row, statuses
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for
from config.tests.redis_servers import RedisServer

JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}


def _alive(*processes: Any) -> bool:
    return all(process.poll() is None for process in processes)


def test_jobs_enqueued_while_redis_is_down_run_once_it_returns_without_restarting_any_process(
    tenant: Tenant, make_token: TokenMaker, processes: Processes, private_redis: RedisServer
) -> None:
    workers = [processes.worker(name=f"worker{index}", REDIS_DSN=private_redis.url()) for index in range(2)]
    scheduler = processes.scheduler(REDIS_DSN=private_redis.url())
    wait_for(lambda: len(Worker.all(connection=private_redis.client())) == 2, timeout=60, what="both workers")
    client = client_for(make_token(tenant, Role.MEMBER))
    first = client.post("/api/v1/jobs", JOB, format="json").json()["id"]
    wait_for(lambda: job_row(first).status == "succeeded", timeout=60, what="a job before the outage")
    pids = [process.pid for process in (*workers, scheduler)]

    private_redis.kill()
    answers = [client.post("/api/v1/jobs", JOB, format="json") for _ in range(5)]
    time.sleep(3)  # the outage: RQ alone quits within 1.5 s

    assert [answer.status_code for answer in answers] == [201] * 5
    ids = [answer.json()["id"] for answer in answers]
    assert statuses(ids) == {"queued": 5}
    assert _alive(*workers, scheduler), processes.log("worker0") + processes.log("worker1")

    private_redis.start()  # empty: every baton and message is gone
    wait_for(lambda: statuses(ids) == {"succeeded": 5}, timeout=60, what="the jobs to run after the outage")

    assert _alive(*workers, scheduler) and [p.pid for p in (*workers, scheduler)] == pids
    assert "waiting for it" in processes.log("worker0") + processes.log("worker1")


def test_a_job_running_when_redis_hangs_still_completes_in_postgres_with_its_lease_extended(
    tenant: Tenant, processes: Processes, private_redis: RedisServer
) -> None:
    # Longer than the lease (3 s in tests): only the heartbeat's extensions keep it.
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 6})
    worker = processes.worker(REDIS_DSN=private_redis.url())
    wait_for(lambda: job_row(job.pk).status == "running", timeout=60, what="the job to start")

    private_redis.pause()  # hung: the baton refresh and RQ's bookkeeping block, Postgres does not
    try:
        leases = {job_row(job.pk).lease_expires_at}

        def extended_twice() -> bool:
            leases.add(job_row(job.pk).lease_expires_at)
            return len(leases) >= 3

        # An extension every second (lease / 3) while Redis hangs: three distinct expiries within 3.5 s.
        wait_for(
            extended_twice,
            timeout=3.5,
            interval=0.1,
            what="the lease to be extended while Redis hangs",
        )
        wait_for(lambda: job_row(job.pk).status != "running", timeout=30, what="the job to finish")
        finished = job_row(job.pk)
        assert finished.status == "succeeded" and finished.attempts == 1, finished.status
        assert worker.poll() is None
    finally:
        private_redis.resume()
    time.sleep(1)
    assert worker.poll() is None, processes.log("worker")
