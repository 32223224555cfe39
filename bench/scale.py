"""The scheduler and the claim at scale: 1,000,000 rows in jobs_job, against an empty table.

    .venv/bin/python bench/scale.py [--rows 1000000] [--tenants 100] [--passes 30] [--claims 200]

In a database of its own (`ballast_bench_scale`, created, migrated and dropped here): 100 tenants; 900k finished
jobs, 90k scheduled in the future, 10k due, spread over the tenants. It prints the scheduler pass time
(rescue + dispatch: the queries and Redis round trips a leader makes every JOBS_SCHEDULER_INTERVAL_MS) and
the claim time of a worker, each against the same work on a table holding only the 10k due jobs, and checks
with EXPLAIN that no scheduler or claim query scans jobs_job sequentially. Last line: `RESULT {json}`.
Targets: a pass <= 50 ms; claim within 2x its empty-table time; no sequential scan.
Refuses APP_ENV=prod.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
DB_NAME = "ballast_bench_scale"
REDIS_URL = "redis://127.0.0.1:6379/9"


def setup() -> dict[str, str]:
    import environ

    os.environ.setdefault("APP_ENV", "dev")
    if os.environ["APP_ENV"] == "prod":
        sys.exit("bench/scale.py refuses to run with APP_ENV=prod")
    environ.Env.read_env(REPO_ROOT / "var" / "owner.env")
    os.environ["REDIS_DSN"] = os.environ.get("BENCH_REDIS_DSN", REDIS_URL)
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.jobs_throughput import point_django_at, recreate_database

    recreate_database(settings.DATABASES["owner"], DB_NAME)
    return point_django_at(DB_NAME)


def migrate(child_env: dict[str, str]) -> None:
    env = {**os.environ, **child_env}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def create_tenants(count: int) -> int:
    """`count` active tenants, written as the system role (BYPASSRLS); the first id."""
    from django.db import connections

    with connections["system"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenants_tenant (slug, name, status, created_at) "
            "SELECT 'scale-' || n, 'Scale ' || n, 'active', now() FROM generate_series(1, %s) n RETURNING id",
            [count],
        )
        return min(row[0] for row in cursor.fetchall())


# One INSERT of `count` jobs spread over the tenants; the placeholders in braces say what kind of job.
_JOBS = (
    "INSERT INTO jobs_job (tenant_id, job_type, queue, payload, payload_hash, status, priority, available_at,"
    " attempts, max_attempts, last_error, trace_id, correlation_id, causation_id, traceparent,"
    " created_event_id, locked_by, cancel_requested, created_at, updated_at, started_at, finished_at) "
    "SELECT %s + n %% %s, 'diagnostics.echo', 'default', '{{\"value\": 1}}', 'x', {status}, 0, {available},"
    " {attempts}, 3, '', md5(n::text), '', '', '', gen_random_uuid(), '', false, now(), now(), {started},"
    " {finished} FROM generate_series(1, %s) n"
)


def fill_due(cursor: Any, first: int, tenants: int, due: int) -> None:
    cursor.execute(
        _JOBS.format(
            status="'queued'", available="now() - interval '1 minute'", attempts=0, started="NULL", finished="NULL"
        ),
        [first, tenants, due],
    )


def analyze() -> None:
    from django.db import connections

    with connections["owner"].cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) jobs_job")


def time_passes(passes: int) -> list[float]:
    import django_rq

    from ballast.jobs.scheduler.loop import run_pass

    times = []
    for _ in range(passes):
        django_rq.get_connection("default").flushdb()  # every pass must wake every pair: the worst case
        started = time.perf_counter()
        run_pass()
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_claims(claims: int) -> list[float]:
    from django.db import connections

    from ballast.jobs.worker.claim import claim_next

    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT DISTINCT tenant_id FROM jobs_job WHERE status = 'queued' AND available_at <= now()")
        tenants = [row[0] for row in cursor.fetchall()]
    times = []
    for index in range(claims):
        started = time.perf_counter()
        job = claim_next(queue="default", tenant_id=tenants[index % len(tenants)], worker="bench")
        times.append((time.perf_counter() - started) * 1000)
        assert job is not None
    with connections["system"].cursor() as cursor:  # put them back for the next round
        cursor.execute(
            "UPDATE jobs_job SET status = 'queued', attempts = 0, lease_token = NULL, lease_expires_at = NULL "
            "WHERE status = 'running'"
        )
    return times


SCHEDULER_QUERIES = ("DUE_PAIRS", "EXPIRED_LEASES", "CLAIM_NEXT", "CLAIM_DUE")


def plans_without_seq_scan(tenant_id: int) -> dict[str, bool]:
    """EXPLAIN each hot statement; True when no node scans jobs_job sequentially."""
    from django.db import connections, transaction

    from ballast.jobs import sql

    params: dict[str, Any] = {
        "limit": 500,
        "queue": "default",
        "tenant_id": tenant_id,
        "worker": "bench",
        "lease": 30,
        "paused_types": [],
        "job_type": None,
        "queues": None,
    }
    verdicts = {}
    for name in SCHEDULER_QUERIES:
        with transaction.atomic(using="system"), connections["system"].cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + getattr(sql, name), params)
            plan = cursor.fetchone()[0]
            transaction.set_rollback(True, using="system")
        verdicts[name] = not _seq_scan(plan)
    return verdicts


def _seq_scan(node: Any) -> bool:
    if isinstance(node, list):
        return any(_seq_scan(item) for item in node)
    if isinstance(node, dict):
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "jobs_job":
            return True
        return any(_seq_scan(value) for value in node.values())
    return False


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--passes", type=int, default=30)
    parser.add_argument("--claims", type=int, default=200)
    args = parser.parse_args()
    child_env = setup()
    from django.conf import settings
    from django.db import connections

    from bench.jobs_throughput import close_django_connections, drop_database

    owner = dict(settings.DATABASES["owner"])
    try:
        migrate(child_env)
        first = create_tenants(args.tenants)
        # The empty table: only the due jobs.
        with connections["system"].cursor() as cursor:
            fill_due(cursor, first, args.tenants, args.rows // 100)
        analyze()
        empty_pass, empty_claim = time_passes(args.passes), time_claims(args.claims)
        # The full table: 90 % finished, 9 % scheduled in the future, 1 % due.
        with connections["system"].cursor() as cursor:
            cursor.execute("DELETE FROM jobs_job")
            fill_rows(cursor, first, args.tenants, args.rows)
        analyze()
        full_pass, full_claim = time_passes(args.passes), time_claims(args.claims)
        with connections["system"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'queued' AND available_at <= now()) FROM jobs_job"
            )
            rows, due_now = cursor.fetchone()
        plans = plans_without_seq_scan(first)
        result = {
            "rows": rows,
            "due": due_now,
            "tenants": args.tenants,
            "pass_empty": summary(empty_pass),
            "pass_full": summary(full_pass),
            "claim_empty": summary(empty_claim),
            "claim_full": summary(full_claim),
            "claim_ratio_p50": round(statistics.median(full_claim) / statistics.median(empty_claim), 2),
            "no_seq_scan": plans,
        }
        print(f"jobs_job: {rows:,} rows ({due_now:,} due) across {args.tenants} tenants")
        print(f"{'measure':<28}{'empty table':>14}{f'{rows:,} rows':>16}   target")
        for label, key, target in (
            ("scheduler pass p50 ms", ("pass", "p50_ms"), "<= 50"),
            ("scheduler pass p95 ms", ("pass", "p95_ms"), ""),
            ("claim p50 ms", ("claim", "p50_ms"), "<= 2x empty"),
            ("claim p95 ms", ("claim", "p95_ms"), ""),
        ):
            empty, full = result[f"{key[0]}_empty"][key[1]], result[f"{key[0]}_full"][key[1]]
            print(f"{label:<28}{empty:>14}{full:>16}   {target}")
        print("no sequential scan of jobs_job: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in plans.items()))
        print("RESULT " + json.dumps(result, sort_keys=True))
        return 0
    finally:
        close_django_connections()
        drop_database(owner, DB_NAME)


def fill_rows(cursor: Any, first: int, tenants: int, rows: int) -> None:
    finished, future, due = rows * 90 // 100, rows * 9 // 100, rows // 100
    cursor.execute(
        _JOBS.format(
            status="'succeeded'",
            available="now() - interval '30 days' + n * interval '1 second'",
            attempts=1,
            started="now() - interval '1 day'",
            finished="now() - interval '1 day'",
        ),
        [first, tenants, finished],
    )
    cursor.execute(
        _JOBS.format(
            status="'queued'",
            available="now() + interval '1 hour' + n * interval '1 second'",
            attempts=0,
            started="NULL",
            finished="NULL",
        ),
        [first, tenants, future],
    )
    fill_due(cursor, first, tenants, due)


if __name__ == "__main__":
    sys.exit(main())
