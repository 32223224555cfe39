"""Chaos with real processes, longer than the test in `make test` (jobs/tests/test_chaos.py), with figures.

    .venv/bin/python bench/chaos.py [--fast 4000] [--medium 400] [--slow 30] [--kill-every 2] [--timeout 600]

Two rqworker processes and jobs_scheduler run a mix of 1 ms, 50 ms and 2 s (checkpointed) jobs in a test database
of their own; a killer SIGKILLs a random worker every couple of seconds and starts a new one, and flushes Redis
once. Prints what happened and every violated guarantee (none expected): jobs not succeeded, overlapping
executions, re-runs without a dead worker, attempts charged to jobs that never started (beyond a SIGKILL landing
between a claim and the handler's first line), checkpointed work missing or doubled. Last line: `RESULT {json}`.
Runs through pytest (its fixtures make the database and stop every process): refuses APP_ENV=prod.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", type=int, default=4000)
    parser.add_argument("--medium", type=int, default=400)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    if os.environ.get("APP_ENV") == "prod":
        sys.exit("bench/chaos.py refuses to run with APP_ENV=prod")
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
    command += ["jobs/tests/test_chaos.py::test_chaos_benchmark"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
