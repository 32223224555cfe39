"""Redis Sentinel with real servers: a primary, a replica and three sentinels; the primary is SIGKILLed, a
sentinel promotes the replica, and jobs enqueued afterwards run with no process restarted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.db import transaction

from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import statuses
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.lib import redis_client
from ballast.tenants.models import Tenant
from config.tests.redis_servers import MASTER_NAME, sentinel_setup

# Through Sentinel, REDIS_DSN gives only the database number (and credentials): its host is never dialled.
UNUSED_HOST_DSN = "redis://127.0.0.1:1/0"


def _enqueue(tenant: Tenant, count: int) -> list[int]:
    with transaction.atomic():
        return [enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": n}).pk for n in range(count)]


def test_jobs_enqueued_after_a_sentinel_failover_run_without_restarting_any_process(
    tenant: Tenant, processes: Processes, tmp_path: Path, settings: Any
) -> None:
    with sentinel_setup(tmp_path) as setup:
        env = {
            "REDIS_DSN": UNUSED_HOST_DSN,
            "REDIS_SENTINELS": setup.sentinels_setting,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }
        settings.REDIS_DSN = UNUSED_HOST_DSN
        settings.REDIS_SENTINELS = [("127.0.0.1", sentinel.port) for sentinel in setup.sentinels]
        settings.REDIS_SENTINEL_MASTER = MASTER_NAME
        redis_client.REQUEST_BREAKER.reset()
        worker = processes.worker(settings=env)
        scheduler = processes.scheduler(settings=env)
        before = _enqueue(tenant, 3)
        wait_for(lambda: statuses(before) == {"succeeded": 3}, timeout=60, what="jobs before the failover")
        assert setup.primary.client().scard("rq:workers") == 1  # the worker found the primary through Sentinel

        setup.primary.kill()
        killed_at = time.monotonic()
        promoted = setup.wait_for_failover()
        promoted_at = time.monotonic()
        after = _enqueue(tenant, 3)
        wait_for(lambda: "succeeded" in statuses(after), timeout=60, interval=0.05, what="a job after the failover")
        first_done_at = time.monotonic()
        wait_for(lambda: statuses(after) == {"succeeded": 3}, timeout=60, what="every job after the failover")

        assert worker.poll() is None and scheduler.poll() is None, processes.log("worker") + processes.log("scheduler")
        assert redis_client.client().connection_pool.get_master_address()[1] == promoted.port  # type: ignore[attr-defined]
        print(
            f"sentinel failover: promoted {promoted_at - killed_at:.1f}s after the SIGKILL; "
            f"next job completed {first_done_at - killed_at:.1f}s after it"
        )
        processes.stop_all()  # while their Redis is still up: a clean exit, not a wait for the sentinels
    redis_client.REQUEST_BREAKER.reset()
