"""Retention by partition against DELETE, a tenant's rows by batched delete, and what retention costs writers.

    .venv/bin/python bench/retention.py [--rows 2000000] [--tenant-rows 500000] [--enqueues 400]

In a database of its own (`ballast_bench_retention`, created, migrated and dropped here), with a tenant of its own:
1. `--rows` job attempts over four old months in the partitioned `jobs_jobattempt`, and the same rows in a plain
   copy with the same indexes (`bench_attempts_flat`). Removing the oldest month: retention's detach + drop of
   its partition (lifecycle) against `DELETE ... WHERE started_at < <month end>` on the copy. Target:
   the drop takes <= 5 % of the DELETE's time.
2. A tenant's `--tenant-rows` rows in the plain copy: the bounded batched delete that `tenant_purge --mode delete`
   uses (ballast.lib.batched_delete), against one DELETE of the same rows, and against the drop of item 1 (a
   partition of the same size: what a tenant with partitions of its own would cost).
3. Enqueue load (one job per transaction, each writing a job, an audit row and an event) while retention drops
   an old 500k-row audit partition: the longest enqueue, against the longest one of the same load without
   retention. Target: the stall is <= 100 ms.
4. A tenant's `--tenant-rows` attempts in this month of the real `jobs_jobattempt`, beside `--shared-rows` of
   another tenant, `--runs` times: the bounded batched delete `tenant_purge --mode delete` runs, against the
   purge by partition (`tenant_purge --mode partition`: detach + drop of the tenant's own leaf, after
   `tenant_partition` gave it one). Meanwhile `tenant_partition` is timed, with a writer inserting attempts
   of the other tenant into the same month one per transaction: its longest insert against its median
   (what writers of the current month wait). Median and spread (min..max) of the runs.
`--only-tenant-partition` runs item 4 alone. Last line: `RESULT {json}`. Refuses APP_ENV=prod.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
DB_NAME = "ballast_bench_retention"
DROP_TARGET = 0.05
STALL_TARGET_MS = 100.0


def setup() -> dict[str, str]:
    if os.environ.get("APP_ENV") == "prod":
        sys.exit("bench/retention.py refuses to run with APP_ENV=prod")
    os.environ.setdefault("BENCH_REDIS_DSN", os.environ.get("REDIS_DSN", "redis://127.0.0.1:6379/9"))
    from bench import scale

    scale.DB_NAME = DB_NAME  # scale's set-up (settings, database recreated), this script's database
    return scale.setup()


def sql(statement: str, params: Any = None, *, alias: str = "system") -> list[tuple[Any, ...]]:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def old_months(count: int) -> list[date]:
    from ballast.lib.partitioning import add_months, month_start

    first = add_months(month_start(date.today()), -(count + 4))  # all past the 90-day job retention
    return [add_months(first, n) for n in range(count)]


def fill_attempts(tenant_id: int, rows: int) -> list[date]:
    """`rows` attempts of the bench tenant over four old months, partitioned and flat."""
    from ballast.lib.partitioned_tables import by_table
    from ballast.lib.partitioning import add_months

    spec = by_table("jobs_jobattempt").spec
    months = old_months(4)
    spec.ensure(ahead=3, today=months[0])
    start, end = months[0], add_months(months[-1], 1)
    sql(
        "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, finished_at, outcome, error, "
        "traceback, duration_ms) SELECT %s, n, 1, 'bench', "
        "%s::timestamptz + (n %% 1000) * ((%s::timestamptz - %s::timestamptz) / 1000), NULL, 'succeeded', '', '', 1 "
        "FROM generate_series(1, %s) n",
        [tenant_id, start, end, start, rows],
    )
    sql("CREATE TABLE bench_attempts_flat (LIKE jobs_jobattempt INCLUDING DEFAULTS)", alias="owner")
    for statement in (
        "ALTER TABLE bench_attempts_flat ADD PRIMARY KEY (id)",
        "CREATE INDEX ON bench_attempts_flat (finished_at)",
        "CREATE INDEX ON bench_attempts_flat (tenant_id, job_id, attempt)",
        "CREATE INDEX ON bench_attempts_flat (job_id)",
        "CREATE INDEX ON bench_attempts_flat (tenant_id)",
        "GRANT ALL ON bench_attempts_flat TO ballast_system",
    ):
        sql(statement, alias="owner")
    sql("INSERT INTO bench_attempts_flat SELECT * FROM jobs_jobattempt")
    sql("VACUUM (ANALYZE) jobs_jobattempt", alias="owner")
    sql("VACUUM (ANALYZE) bench_attempts_flat", alias="owner")
    return months


def checkpoint() -> bool:
    """CHECKPOINT as a superuser (BENCH_SUPERUSER_DSN; this machine's trust auth by default), so that both ways
    of removing a month start as retention finds an old month in production: long since written out, so the
    DELETE's first change to each page logs the whole page. Without it the DELETE's time swings several-fold
    with where the last checkpoint fell. False when no superuser connection is available."""
    import psycopg

    dsn = os.environ.get("BENCH_SUPERUSER_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
            connection.execute("CHECKPOINT")
    except psycopg.Error:
        return False
    return True


def time_month(months: list[date]) -> dict[str, float]:
    """Removing the oldest month: retention's detach (all writers wait for) and drop, against DELETE and the
    VACUUM that must follow it before the space is usable again. Each starts after a CHECKPOINT."""
    from ballast.lib.partitioned_tables import by_table

    spec = by_table("jobs_jobattempt").spec
    (partition,) = [p for p in spec.partitions() if p.start == months[0]]
    (rows,) = sql(f"SELECT count(*) FROM {partition.name}")[0]  # noqa: S608 (a partition name)
    checkpointed = checkpoint()
    started = time.perf_counter()
    spec.detach(partition)
    detached = time.perf_counter()
    spec.drop(partition)  # what is left of it: the drop of the detached table
    dropped = time.perf_counter()
    checkpoint()
    before_delete = time.perf_counter()
    sql("DELETE FROM bench_attempts_flat WHERE started_at < %s", [partition.end])
    deleted = time.perf_counter()
    sql("VACUUM bench_attempts_flat", alias="owner")
    vacuumed = time.perf_counter()
    return {
        "rows": rows,
        "detach_ms": (detached - started) * 1000,
        "drop_ms": (dropped - started) * 1000,
        "delete_ms": (deleted - before_delete) * 1000,
        "delete_vacuum_ms": (vacuumed - before_delete) * 1000,
        "checkpointed": checkpointed,
    }


def time_tenant(tenant_id: int, rows: int) -> tuple[float, float]:
    """(batched delete ms, one DELETE ms) of `rows` rows of the bench tenant in the flat copy."""
    from ballast.lib.batched_delete import delete_in_batches

    fill = (
        "INSERT INTO bench_attempts_flat (id, tenant_id, job_id, attempt, worker, started_at, outcome, error, "
        "traceback) SELECT 10000000000 + n, %s, n, 1, 'bench', now() - interval '1 day', 'succeeded', '', '' "
        "FROM generate_series(1, %s) n"
    )
    sql(fill, [tenant_id, rows])
    sql("VACUUM (ANALYZE) bench_attempts_flat", alias="owner")
    started = time.perf_counter()
    deleted = delete_in_batches(
        table="bench_attempts_flat", where="tenant_id = %s", params=[tenant_id], using="system", batch=5000
    )
    batched_ms = (time.perf_counter() - started) * 1000
    assert deleted == rows, (deleted, rows)
    sql(fill, [tenant_id, rows])
    sql("VACUUM (ANALYZE) bench_attempts_flat", alias="owner")
    started = time.perf_counter()
    sql("DELETE FROM bench_attempts_flat WHERE tenant_id = %s", [tenant_id])
    single_ms = (time.perf_counter() - started) * 1000
    return batched_ms, single_ms


def enqueue_load(tenant_id: int, count: int, during: Any = None) -> list[float]:
    """Latencies (ms) of `count` single-job enqueue transactions; `during` runs in a thread meanwhile."""
    from django.db import connections, transaction

    from ballast.jobs.services import enqueue

    worker = threading.Thread(target=during) if during else None
    latencies = []
    for index in range(count):
        if worker is not None and index == count // 4:
            worker.start()
        started = time.perf_counter()
        with transaction.atomic():
            enqueue(tenant=tenant_id, job_type="diagnostics.echo", payload={"value": index})
        latencies.append((time.perf_counter() - started) * 1000)
    if worker is not None:
        worker.join()
    connections.close_all()
    return latencies


def old_audit(tenant_id: int, rows: int) -> None:
    """`rows` audit entries in a month past the audit retention."""
    from ballast.lib.partitioned_tables import by_table
    from ballast.lib.partitioning import add_months, month_start

    spec = by_table("tenants_auditentry").spec
    month = add_months(month_start(date.today()), -16)
    spec.ensure(ahead=0, today=month)
    sql(
        "INSERT INTO tenants_auditentry (tenant_id, actor, action, target_type, target_id, trace_id, data, at) "
        "SELECT %s, 'bench', 'bench.old', 'x', n::text, '', '{}', %s::timestamptz + (n %% 600) * interval '1 hour' "
        "FROM generate_series(1, %s) n",
        [tenant_id, month, rows],
    )


def run_retention_in_thread() -> None:
    from django.db import connections

    from ballast.lifecycle.retention import apply_retention

    try:
        RETENTION.append(apply_retention())
    finally:
        connections.close_all()


RETENTION: list[Any] = []


def fill_current(tenant_id: int, rows: int) -> None:
    sql(
        "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, error, traceback) "
        "SELECT %s, n, 1, 'bench', date_trunc('month', now()) + (n %% 1000) * interval '1 minute', 'succeeded', "
        "'', '' FROM generate_series(1, %s) n",
        [tenant_id, rows],
    )
    sql("VACUUM (ANALYZE) jobs_jobattempt", alias="owner")


class Writer(threading.Thread):
    """Inserts one attempt of `tenant_id` per transaction into this month until stopped; latencies in ms."""

    def __init__(self, tenant_id: int) -> None:
        super().__init__()
        self.tenant_id = tenant_id
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connections, transaction

        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                with transaction.atomic(using="system"):
                    sql(
                        "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, "
                        "error, traceback) VALUES (%s, 1, 1, 'writer', now(), 'succeeded', '', '')",
                        [self.tenant_id],
                    )
                self.latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.002)
        finally:
            connections.close_all()


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def time_tenant_partition(big: int, other: int, rows: int, shared: int, runs: int) -> dict[str, Any]:
    """Item 4: per run, the batched delete of the tenant's rows, then tenant_partition (with a writer of the
    same month), then the drop of its leaf."""
    from ballast.lib.batched_delete import delete_in_batches
    from ballast.lifecycle import dedicated_tenants
    from ballast.tenants.models import Tenant

    fill_current(other, shared)
    tenant = Tenant.objects.using("system").get(pk=big)
    batched, dedicate, dropped, stall, writer_p50 = [], [], [], [], []
    for run in range(1, runs + 1):
        fill_current(big, rows)
        started = time.perf_counter()
        deleted = delete_in_batches(
            table="jobs_jobattempt", where="tenant_id = %s", params=[big], using="system", batch=5000
        )
        batched.append((time.perf_counter() - started) * 1000)
        assert deleted == rows, (deleted, rows)
        fill_current(big, rows)
        writer = Writer(other)
        writer.start()
        time.sleep(1.0)  # the writer's quiet median first
        started = time.perf_counter()
        dedicated_tenants.dedicate(tenant=tenant, actor="bench", execute=True)
        dedicate.append((time.perf_counter() - started) * 1000)
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
        writer_p50.append(statistics.median(writer.latencies))
        stall.append(max(writer.latencies) - statistics.median(writer.latencies))
        started = time.perf_counter()
        leaves = dedicated_tenants.drop_tenant_partitions(big, tables=["jobs_jobattempt"])
        dropped.append((time.perf_counter() - started) * 1000)
        dedicated_tenants.release(tenant=tenant, actor="bench", execute=True)  # the next run starts shared again
        print(
            f"run {run}: batched delete {batched[-1]:.0f} ms; tenant_partition {dedicate[-1]:.0f} ms (writer p50 "
            f"{writer_p50[-1]:.1f} ms, longest +{stall[-1]:.0f} ms); drop of {len(leaves)} leaves "
            f"{dropped[-1]:.0f} ms",
            flush=True,
        )
    return {
        "tenant_rows": rows,
        "shared_rows": shared,
        "runs": runs,
        "batched_delete_ms": spread(batched),
        "partition_drop_ms": spread(dropped),
        "drop_over_batched": round(statistics.median(dropped) / statistics.median(batched), 4),
        "tenant_partition_ms": spread(dedicate),
        "writer_p50_ms": spread(writer_p50),
        "writer_stall_ms": spread(stall),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--tenant-rows", type=int, default=500_000)
    parser.add_argument("--enqueues", type=int, default=400)
    parser.add_argument("--shared-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only-tenant-partition", action="store_true")
    args = parser.parse_args()
    child_env = setup()
    from bench import scale

    scale.migrate(child_env)
    from django.db import connections

    connections.close_all()
    tenant_id = scale.create_tenants(4)
    purged_id = tenant_id + 1  # the tenant whose rows item 2 deletes
    print(f"item 4: a tenant of {args.tenant_rows:,} rows, {args.runs} runs ...", flush=True)
    by_partition = time_tenant_partition(tenant_id + 2, tenant_id + 3, args.tenant_rows, args.shared_rows, args.runs)
    if args.only_tenant_partition:
        print("RESULT " + json.dumps({"tenant_partition": by_partition}))
        return finish()

    print(f"filling {args.rows:,} attempts (partitioned and flat) ...", flush=True)
    months = fill_attempts(tenant_id, args.rows)
    month = time_month(months)
    drop_ms, delete_ms, month_rows = month["drop_ms"], month["delete_ms"], int(month["rows"])
    print(
        f"one month ({month_rows:,} rows): detach {month['detach_ms']:.1f} ms, detach + drop {drop_ms:.0f} ms; "
        f"DELETE {delete_ms:.0f} ms, DELETE + VACUUM {month['delete_vacuum_ms']:.0f} ms"
        + (", each after a CHECKPOINT" if month["checkpointed"] else " (no CHECKPOINT: no superuser connection)"),
        flush=True,
    )
    tenant_rows = args.tenant_rows
    batched_ms, single_ms = time_tenant(purged_id, tenant_rows)
    print(f"a tenant's {tenant_rows:,} rows: batched delete {batched_ms:.0f} ms, one DELETE {single_ms:.0f} ms")

    old_audit(tenant_id, 500_000)
    sql("VACUUM (ANALYZE) tenants_auditentry", alias="owner")
    enqueue_load(tenant_id, 20)  # warm-up: connections, caches
    quiet = enqueue_load(tenant_id, args.enqueues)
    loaded = enqueue_load(tenant_id, args.enqueues, during=run_retention_in_thread)
    dropped = RETENTION[0].dropped if RETENTION else []
    stall = max(loaded) - statistics.median(quiet)
    print(f"enqueue p50 {statistics.median(quiet):.1f} ms, max {max(quiet):.1f} ms without retention; "
          f"max {max(loaded):.1f} ms while retention dropped {len(dropped)} partition(s)")  # fmt: skip

    result = {
        "month_rows": month_rows,
        "drop_ms": round(drop_ms, 1),
        "delete_ms": round(delete_ms, 1),
        "drop_over_delete": round(drop_ms / delete_ms, 4),
        "detach_ms": round(month["detach_ms"], 1),
        "after_checkpoint": bool(month["checkpointed"]),
        "delete_vacuum_ms": round(month["delete_vacuum_ms"], 1),
        "drop_over_delete_vacuum": round(drop_ms / month["delete_vacuum_ms"], 4),
        "detach_over_delete": round(month["detach_ms"] / delete_ms, 4),
        "tenant_rows": tenant_rows,
        "tenant_batched_delete_ms": round(batched_ms, 1),
        "tenant_single_delete_ms": round(single_ms, 1),
        "tenant_drop_over_batched": round(drop_ms / batched_ms, 4),
        "enqueue_p50_ms": round(statistics.median(quiet), 1),
        "enqueue_max_quiet_ms": round(max(quiet), 1),
        "enqueue_max_during_retention_ms": round(max(loaded), 1),
        "stall_ms": round(stall, 1),
        "retention_dropped": dropped,
        "tenant_partition": by_partition,
        "targets": {
            "drop_le_5pct_of_delete": drop_ms / delete_ms <= DROP_TARGET,
            "stall_le_100ms": stall <= STALL_TARGET_MS,
        },
    }
    print("RESULT " + json.dumps(result))
    return finish()


def finish() -> int:
    from django.conf import settings

    from bench.jobs_throughput import close_django_connections, drop_database

    owner = dict(settings.DATABASES["owner"])
    close_django_connections()
    drop_database(owner, DB_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
