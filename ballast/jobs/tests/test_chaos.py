"""Chaos in `make test`: real workers SIGKILLed every couple of seconds, Redis flushed once (bench/chaos.py
runs the longer version and prints its figures)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ballast.jobs.tests.chaos import check, enqueue_mix, run_chaos, summary
from ballast.jobs.tests.processes import Processes
from ballast.tenants.models import Tenant


@pytest.mark.timeout(240)
def test_under_worker_kills_and_a_redis_flush_every_job_runs_to_success_once_per_life(
    tenant: Tenant, processes: Processes, tmp_path: Path, settings
) -> None:
    log = tmp_path / "executions.log"
    settings.JOBS_CHAOS_LOG = str(log)  # enables diagnostics.chaos here, for enqueue's validation
    run = enqueue_mix(tenant.pk, fast=1000, medium=100, slow=8)

    run_chaos(processes, run, log=log, kill_every=2.0, timeout=150)  # headroom: workers boot slowly under load

    problems = check(run, log)
    assert not problems, f"{summary(run, log)}: " + "; ".join(problems[:20])
    assert len(run.kills) >= 5 and run.flushed_at  # the chaos really happened


@pytest.mark.skipif("CHAOS_MIX" not in os.environ, reason="bench/chaos.py runs this, with its own figures")
def test_chaos_benchmark(tenant: Tenant, processes: Processes, tmp_path: Path, settings) -> None:
    fast, medium, slow = (int(part) for part in os.environ["CHAOS_MIX"].split(","))
    log = tmp_path / "executions.log"
    settings.JOBS_CHAOS_LOG = str(log)
    run = enqueue_mix(tenant.pk, fast=fast, medium=medium, slow=slow)

    run_chaos(
        processes,
        run,
        log=log,
        kill_every=float(os.environ["CHAOS_KILL_EVERY"]),
        timeout=float(os.environ["CHAOS_TIMEOUT"]),
    )

    problems = check(run, log)
    figures = summary(run, log)
    print("\n" + "\n".join(f"{name:<34}{value}" for name, value in figures.items()))
    print("violations: " + ("none" if not problems else "; ".join(problems[:20])))
    print("RESULT " + json.dumps({**figures, "violations": len(problems)}))
    assert not problems
