"""The operator consoles at scale: /admin/ops/queue and /admin/ops/jobs over bench/scale.py's 1,000,000-row jobs_job.

    .venv/bin/python bench/console.py [--rows 1000000] [--tenants 100] [--loads 20] [--attempts 6000]

In a database of its own (`ballast_bench_console`, created, migrated and dropped here), filled by bench/scale.py's
builder (100 tenants; 900k finished jobs, 90k scheduled, 10k due), plus `--attempts` attempts finished over the
last hour (5 % failed) and the minute rollups the scheduler would have written. A staff user loads each page
(and the queue page's live refresh, the content alone, which htmx asks for every few seconds) `--loads` times
through Django's test client (server time: middleware, queries and template, no network) and the script prints
p50 / p95 per page, against a baseline in the same run: the naive
`SELECT status, count(*) FROM jobs_job GROUP BY status` the console avoids. Then it EXPLAINs every query the
queue snapshot and the jobs page run and checks that none scans jobs_job sequentially.
Target: p95 <= 300 ms per page; no sequential scan. Last line: `RESULT {json}`. Refuses APP_ENV=prod.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
DB_NAME = "ballast_bench_console"
TARGET_P95_MS = 300.0
ROLLUP_MS: list[float] = []  # the scheduler's minute rollup, timed once (not on page load)


def setup() -> dict[str, str]:
    """bench/scale.py's set-up (settings, database recreated), on this script's own database."""
    if os.environ.get("APP_ENV") == "prod":
        sys.exit("bench/console.py refuses to run with APP_ENV=prod")
    os.environ.setdefault("BENCH_REDIS_DSN", os.environ.get("REDIS_DSN", "redis://127.0.0.1:6379/11"))
    from bench import scale

    scale.DB_NAME = DB_NAME  # scale's builder, this script's database
    return scale.setup()


ATTEMPTS = """
INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, finished_at, outcome, error, traceback,
    duration_ms)
SELECT j.tenant_id, j.id, 1, 'bench', now() - (n * interval '3600 seconds' / %(count)s) - interval '50 ms',
    now() - (n * interval '3600 seconds' / %(count)s),
    CASE WHEN n %% 20 = 0 THEN 'failed' ELSE 'succeeded' END,
    CASE WHEN n %% 20 = 0 THEN 'RuntimeError: bench' ELSE '' END, '', 10 + n %% 200
FROM (SELECT id, tenant_id, row_number() OVER (ORDER BY id) AS n FROM jobs_job WHERE status = 'succeeded'
      ORDER BY id LIMIT %(count)s) j
"""


def fill(rows: int, tenants: int, attempts: int) -> int:
    """scale.py's rows, the last hour's attempts, the minute rollups; the first tenant's id."""
    from django.db import connections

    from ballast.ops import rollups
    from bench import scale

    first = scale.create_tenants(tenants)
    with connections["system"].cursor() as cursor:
        scale.fill_rows(cursor, first, tenants, rows)
        cursor.execute(ATTEMPTS, {"count": attempts})
    scale.analyze()
    started = time.perf_counter()
    rollups.roll_up()  # what the scheduler's leader does each minute
    ROLLUP_MS.append((time.perf_counter() - started) * 1000)
    with connections["owner"].cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) jobs_jobattempt")
    return first


def staff_client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("console-bench", password=None)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


# A live refresh (ops/console-live.js through htmx) asks for the page's content alone.
LIVE = "live refresh: "


def time_page(client: Any, path: str, loads: int) -> list[float]:
    live = path.startswith(LIVE)
    path = path.removeprefix(LIVE)
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        response = client.get(path, headers={"HX-Request": "true"} if live else None)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
    return times


NAIVE = "SELECT status, count(*) FROM jobs_job GROUP BY status"


def time_naive(loads: int) -> list[float]:
    from django.db import connections

    times = []
    with connections["system"].cursor() as cursor:
        for _ in range(loads):
            started = time.perf_counter()
            cursor.execute(NAIVE)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def console_queries(tenant_id: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every statement on jobs_job (or joined with it) the queue snapshot and the jobs page run."""
    from ballast.jobs import sql
    from ballast.jobs.bulk import JobFilter
    from ballast.ops import selectors

    every = {"tenant_id": None}
    one = {"tenant_id": tenant_id}
    page = {**JobFilter().params(), "before": None, "limit": 50}
    return {
        "QUEUE_COUNTS": (sql.QUEUE_COUNTS, every),
        "QUEUE_COUNTS (tenant)": (sql.QUEUE_COUNTS, one),
        "QUEUE_LAST_HOUR": (sql.QUEUE_LAST_HOUR, every),
        "TYPE_COUNTS": (sql.TYPE_COUNTS, every),
        "TYPE_SCHEDULED": (selectors.TYPE_SCHEDULED, every),
        "TYPE_LAST_HOUR": (sql.TYPE_LAST_HOUR, every),
        "TENANT_HINTS": (sql.TENANT_HINTS, {}),
        "EXPIRED_LEASE_COUNT": (sql.EXPIRED_LEASE_COUNT, every),
        "JOBS_PAGE": (sql.JOBS_FILTERED, page),
        "JOBS_PAGE (tenant)": (sql.JOBS_FILTERED, {**page, "tenant_id": tenant_id}),
    }


def plans(tenant_id: int) -> tuple[dict[str, bool], dict[str, float]]:
    """Per statement: True when its plan has no sequential scan of jobs_job; its execution time (EXPLAIN ANALYZE)."""
    from django.db import connections

    from bench import scale

    verdicts, times = {}, {}
    with connections["system"].cursor() as cursor:
        for name, (statement, params) in console_queries(tenant_id).items():
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0]
            verdicts[name] = not scale._seq_scan(plan)
            times[name] = round(plan[0]["Execution Time"], 2)
    return verdicts, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--attempts", type=int, default=6000)
    args = parser.parse_args()
    setup_env = setup()
    from django.conf import settings

    from bench import scale
    from bench.jobs_throughput import close_django_connections, drop_database

    owner = dict(settings.DATABASES["owner"])
    try:
        scale.migrate(setup_env)
        first = fill(args.rows, args.tenants, args.attempts)
        client = staff_client()
        pages = {
            "queue": "/admin/ops/queue/",
            "queue (tenant)": "/admin/ops/queue/?tenant=scale-1&window=24h",
            "jobs": "/admin/ops/jobs/",
            "jobs (tenant, queued)": "/admin/ops/jobs/?tenant=scale-1&status=queued",
            "queue (live refresh)": LIVE + "/admin/ops/queue/",
        }
        for path in pages.values():
            time_page(client, path, 2)  # warm: templates, connections, plans
        timings = {name: scale.summary(time_page(client, path, args.loads)) for name, path in pages.items()}
        naive = scale.summary(time_naive(args.loads))
        verdicts, query_ms = plans(first)
        result = {
            "rows": args.rows,
            "loads": args.loads,
            "pages": timings,
            "naive_group_by": naive,
            "ratio_queue_p50_over_naive_p50": round(timings["queue"]["p50_ms"] / naive["p50_ms"], 2),
            "target_met": all(t["p95_ms"] <= TARGET_P95_MS for t in timings.values()),
            "no_seq_scan": verdicts,
            "query_ms": query_ms,
            "rollup_ms": round(ROLLUP_MS[0], 1),
        }
        print(f"jobs_job: {args.rows:,} rows across {args.tenants} tenants; {args.loads} loads per page")
        print(f"{'page':<28}{'p50 ms':>10}{'p95 ms':>10}   target p95 <= {TARGET_P95_MS:.0f} ms")
        for name, timing in timings.items():
            verdict = "ok" if timing["p95_ms"] <= TARGET_P95_MS else "MISSED"
            print(f"{name:<28}{timing['p50_ms']:>10}{timing['p95_ms']:>10}   {verdict}")
        print(f"{'baseline: ' + NAIVE[:17] + '...':<28}{naive['p50_ms']:>10}{naive['p95_ms']:>10}")
        print(f"queue page p50 / naive GROUP BY p50: {result['ratio_queue_p50_over_naive_p50']}x")
        scans = ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in verdicts.items())
        print(f"no sequential scan of jobs_job: {scans}")
        print(f"the scheduler's minute rollup (not on page load): {result['rollup_ms']} ms")
        print("query execution ms: " + ", ".join(f"{k}={v}" for k, v in query_ms.items()))
        print("RESULT " + json.dumps(result, sort_keys=True))
        return 0 if result["target_met"] and all(verdicts.values()) else 1
    finally:
        close_django_connections()
        drop_database(owner, DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
