"""Chaos with real processes, longer than the tests in `make test`, with figures.

    .venv/bin/python bench/chaos.py [--fast 4000] [--medium 400] [--slow 30] [--kill-every 2] [--timeout 600]
    .venv/bin/python bench/chaos.py --plan NAME|all [--repeat 3] [--hold 30] [--backlog 2000]

--plan runs the environment's faults (jobs/tests/chaos_plans.py: pg-fast, pg-immediate, pg-failover,
redis-down, redis-hang, sentinel-failover, ddl, unknown-type, maintenance-held) on private servers, each
`--repeat` times, and prints per plan jobs, faults, lost, run twice at once, charged but never started, enqueue
availability during the fault and the recovery time (median and range over the repeats). Without --plan:

Two rqworker processes and jobs_scheduler run a mix of 1 ms, 50 ms and 2 s (checkpointed) jobs in a test database
of their own; a killer SIGKILLs a random worker every couple of seconds and starts a new one, and flushes Redis
once. Prints what happened and every violated guarantee (none expected): jobs not succeeded, overlapping
executions, re-runs without a dead worker, attempts charged to jobs that never started (beyond a SIGKILL landing
between a claim and the handler's first line), checkpointed work missing or doubled. Last line: `RESULT {json}`.
Runs through pytest (its fixtures make the database and stop every process): refuses APP_ENV=prod.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", type=int, default=4000)
    parser.add_argument("--medium", type=int, default=400)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--plan", help="an environment fault plan, or all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each fault lasts")
    parser.add_argument("--backlog", type=int, default=2000, help="jobs enqueued before the fault")
    args = parser.parse_args()
    if os.environ.get("APP_ENV") == "prod":
        sys.exit("bench/chaos.py refuses to run with APP_ENV=prod")
    if args.plan:
        return run_plans(args)
    env = {
        **os.environ,
        "APP_ENV": "ci",
        "REDIS_DSN": os.environ.get("BENCH_REDIS_DSN", "redis://127.0.0.1:6379/10"),
        "BALLAST_TEST_DB": "test_ballast_bench_chaos",
        "CHAOS_MIX": f"{args.fast},{args.medium},{args.slow}",
        "CHAOS_KILL_EVERY": str(args.kill_every),
        "CHAOS_TIMEOUT": str(args.timeout),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-o", "timeout=0"]
    command += ["ballast/jobs/tests/test_chaos.py::test_chaos_benchmark"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env).returncode  # noqa: S603


# The plans of jobs/tests/chaos_plans.py (a test keeps the two lists equal).
PLANS = (
    "pg-fast",
    "pg-immediate",
    "pg-failover",
    "redis-down",
    "redis-hang",
    "sentinel-failover",
    "ddl",
    "unknown-type",
    "maintenance-held",
)


def run_plans(args: argparse.Namespace) -> int:
    names = PLANS if args.plan == "all" else tuple(args.plan.split(","))
    unknown = sorted(set(names) - set(PLANS))
    if unknown:
        sys.exit(f"unknown plan {', '.join(unknown)}; plans: {', '.join(PLANS)}, all")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    failed = False
    for repeat in range(args.repeat):
        for name in names:
            env = {
                **os.environ,
                "APP_ENV": "ci",
                "BALLAST_TEST_DB": "test_ballast_bench_chaos",
                "CHAOS_PLAN": name,
                "CHAOS_HOLD": str(args.hold),
                "CHAOS_BACKLOG": str(args.backlog),
                "CHAOS_TIMEOUT": str(args.timeout),
            }
            command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-o", "timeout=0"]
            command += ["ballast/jobs/tests/test_chaos_plans.py::test_chaos_plan_benchmark"]
            done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)  # noqa: S603
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                print(f"{name} run {repeat + 1}: no result\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
                failed = True
                continue
            figures = json.loads(lines[-1][len("RESULT ") :])
            failed |= done.returncode != 0
            results[name].append(figures)
            print(f"{name} run {repeat + 1}: {json.dumps(figures)}", flush=True)
    print(
        f"\n{'plan':<14}{'jobs':>7}{'faults':>7}{'lost':>6}{'twice':>7}{'unstarted':>10}"
        f"{'avail. %':>10}  recovery s, median (min-max)"
    )
    for name, runs in results.items():
        if not runs:
            continue
        recoveries = [run["recovery_s"] for run in runs if run["recovery_s"] is not None]
        spread = (
            f"{statistics.median(recoveries):.2f} ({min(recoveries):.2f}-{max(recoveries):.2f})" if recoveries else "-"
        )
        print(
            f"{name:<14}{sum(r['jobs'] for r in runs):>7}{sum(r['faults'] for r in runs):>7}"
            f"{sum(r['lost'] for r in runs):>6}{sum(r['run_twice_at_once'] for r in runs):>7}"
            f"{sum(r['charged_unstarted'] for r in runs):>10}"
            f"{100 * min(r['enqueue_availability'] for r in runs):>10.1f}  {spread}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
