"""The environment's faults, plan by plan, on private servers (jobs/tests/chaos_plans.py): short versions in
`make test`; bench/chaos.py --plan NAME|all runs the long ones and prints their figures."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from ballast.jobs.tests.chaos_plans import PLANS, Plan, PlanResult, enqueue_backlog, run_plan, start_stack
from ballast.jobs.tests.processes import Processes
from ballast.lib import redis_client
from ballast.tenants.tests.factories import TenantFactory
from config.tests.pg_servers import PgServer
from config.tests.redis_servers import RedisServer, SentinelSetup, sentinel_setup


def _run(
    plan: Plan,
    pg: PgServer,
    redis: RedisServer,
    tmp_path: Path,
    settings: Any,
    *,
    backlog: int,
    hold: float,
    timeout: float,
) -> PlanResult:
    log = tmp_path / "executions.log"
    settings.JOBS_CHAOS_LOG = str(log)  # enables diagnostics.chaos here, for enqueue's validation
    with ExitStack() as cleanup:
        sentinel: SentinelSetup | None = None
        if plan.sentinel:
            sentinel = cleanup.enter_context(sentinel_setup(tmp_path / "sentinel"))
            settings.REDIS_DSN = "redis://127.0.0.1:1/0"
            settings.REDIS_SENTINELS = [("127.0.0.1", server.port) for server in sentinel.sentinels]
            settings.REDIS_SENTINEL_MASTER = sentinel.master_name
            redis_client.REQUEST_BREAKER.reset()
        replica = pg.replica() if plan.replica else None
        processes = Processes(tmp_path, dsns=pg.dsns(hosts=[replica]) if replica else pg.dsns())
        cleanup.callback(processes.stop_all)  # before the servers they use go
        tenant = TenantFactory.create(slug="acme")
        stack = start_stack(pg, processes, tenant, log=log, redis=None if sentinel else redis, sentinel=sentinel)
        stack.replica, stack.cleanup = replica, cleanup
        ids = enqueue_backlog(tenant.pk, backlog)
        return run_plan(stack, plan, ids, hold=hold, log=log, timeout=timeout)
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_plan_loses_nothing_runs_nothing_twice_and_recovers(
    name: str, private_pg: PgServer, private_redis: RedisServer, tmp_path: Path, settings: Any
) -> None:
    plan = PLANS[name]

    result = _run(plan, private_pg, private_redis, tmp_path, settings, backlog=200, hold=2.0, timeout=60)

    assert not result.problems, f"{result.figures()}: " + "; ".join(result.problems[:10])
    assert result.posts_in_flight_during_fault >= 1  # the clients really posted while the fault lasted


def test_the_benchmark_knows_every_plan() -> None:
    from bench import chaos

    assert sorted(chaos.PLANS) == sorted(PLANS)


@pytest.mark.skipif("CHAOS_PLAN" not in os.environ, reason="bench/chaos.py --plan runs this, with its figures")
@pytest.mark.timeout(0)
def test_chaos_plan_benchmark(private_pg: PgServer, private_redis: RedisServer, tmp_path: Path, settings: Any) -> None:
    plan = PLANS[os.environ["CHAOS_PLAN"]]
    result = _run(
        plan,
        private_pg,
        private_redis,
        tmp_path,
        settings,
        backlog=int(os.environ.get("CHAOS_BACKLOG", "2000")),
        hold=float(os.environ.get("CHAOS_HOLD", "30")),
        timeout=float(os.environ.get("CHAOS_TIMEOUT", "300")),
    )
    print("\n" + "\n".join(f"{key:<24}{value}" for key, value in result.figures().items()))
    print("violations: " + ("none" if not result.problems else "; ".join(result.problems[:20])))
    print("RESULT " + json.dumps({**result.figures(), "violations": len(result.problems)}))
    assert not result.problems
