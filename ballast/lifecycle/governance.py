"""Data-governance figures: how long the lifecycle duties take, what they create and drop, how big and how bloated
each high-volume table is, which partitions queries hit, and lock waits and deadlocks; and the weekly report
built from them (`manage.py governance_report`, the console's "Ops: governance", the weekly mail of ops).

Sizes, dead tuples and scans come from Postgres's statistics (pg_total_relation_size, pg_indexes_size,
pg_stat_user_tables), summed over every leaf partition of a table; they are estimates that autovacuum and
ANALYZE keep current. Deadlocks are pg_stat_database's cumulative counter for this database; a week's count is
the difference between the oldest snapshot in the window and now. Waiting locks are the ungranted rows of pg_locks
at the moment they are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from ballast.lib import metrics
from ballast.lib.partitioned_tables import tables
from ballast.lifecycle.models import MaintenanceRun, TableSizeSnapshot

SYSTEM = "system"  # not tenant data; the system role reads the statistics of every table

# Every leaf under a partitioned table (per-tenant leaves sit two levels down), with its statistics.
_LEAVES_SQL = """
WITH RECURSIVE tree(relid) AS (
    SELECT %s::regclass
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT c.relname,
       pg_total_relation_size(c.oid),
       pg_indexes_size(c.oid),
       COALESCE(s.n_live_tup, 0), COALESCE(s.n_dead_tup, 0),
       COALESCE(s.seq_scan, 0), COALESCE(s.idx_scan, 0)
FROM tree t
JOIN pg_class c ON c.oid = t.relid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind = 'r'
ORDER BY c.relname
"""
_DEADLOCKS_SQL = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
_WAITING_LOCKS_SQL = "SELECT count(*) FROM pg_locks WHERE NOT granted"


@dataclass(frozen=True)
class PartitionStats:
    table: str
    partition: str
    total_bytes: int
    index_bytes: int
    live_tuples: int
    dead_tuples: int
    seq_scans: int
    index_scans: int


@dataclass(frozen=True)
class TableStats:
    table: str
    partitions: int
    total_bytes: int
    index_bytes: int
    live_tuples: int
    dead_tuples: int

    @property
    def dead_ratio(self) -> float:
        """Dead tuples over live and dead: the bloat estimate (0 when the table is empty)."""
        rows = self.live_tuples + self.dead_tuples
        return round(self.dead_tuples / rows, 4) if rows else 0.0


@dataclass(frozen=True)
class LockStats:
    deadlocks: int  # cumulative
    waiting_locks: int  # now


def partition_stats() -> list[PartitionStats]:
    """Every leaf partition of every declared table, with its size and scan counts."""
    found: list[PartitionStats] = []
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read the statistics as they are now
        for table in tables():
            cursor.execute(_LEAVES_SQL, [table.table])
            found += [PartitionStats(table.table, *row) for row in cursor.fetchall()]
    return found


def table_stats(partitions: list[PartitionStats] | None = None) -> list[TableStats]:
    rows = partition_stats() if partitions is None else partitions
    by_table: dict[str, list[PartitionStats]] = {table.table: [] for table in tables()}
    for row in rows:
        by_table.setdefault(row.table, []).append(row)
    return [
        TableStats(
            table=name,
            partitions=len(leaves),
            total_bytes=sum(p.total_bytes for p in leaves),
            index_bytes=sum(p.index_bytes for p in leaves),
            live_tuples=sum(p.live_tuples for p in leaves),
            dead_tuples=sum(p.dead_tuples for p in leaves),
        )
        for name, leaves in by_table.items()
    ]


def lock_stats() -> LockStats:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(_DEADLOCKS_SQL)
        deadlocks = cursor.fetchone()
        cursor.execute(_WAITING_LOCKS_SQL)
        waiting = cursor.fetchone()
    return LockStats(int(deadlocks[0]) if deadlocks else 0, int(waiting[0]) if waiting else 0)


def record_run(*, task: str, started_at: datetime, seconds: float, created: list[str], dropped: list[str]) -> None:
    """A lifecycle duty's run: a row for the report and an observation of ballast_maintenance_run_seconds."""
    MaintenanceRun.objects.using(SYSTEM).create(
        task=task, started_at=started_at, duration_seconds=seconds, created=created, dropped=dropped
    )
    metrics.maintenance_run(task=task, seconds=seconds)


@dataclass
class RunRecord:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@contextmanager
def recorded_run(task: str) -> Iterator[RunRecord]:
    """Times the block and records it as one run of `task` when it completes (a failed run is the job's to tell)."""
    started_at, started = timezone.now(), time.monotonic()
    record = RunRecord()
    yield record
    record_run(
        task=task,
        started_at=started_at,
        seconds=time.monotonic() - started,
        created=record.created,
        dropped=record.dropped,
    )


def take_snapshot(*, day: date | None = None) -> list[TableSizeSnapshot]:
    """Today's sizes of every declared table, replacing today's earlier snapshot. Safe to call twice."""
    day = day or timezone.now().date()
    locks = lock_stats()
    taken = []
    for stats in table_stats():
        snapshot, _ = TableSizeSnapshot.objects.using(SYSTEM).update_or_create(
            day=day,
            table=stats.table,
            defaults={
                "total_bytes": stats.total_bytes,
                "index_bytes": stats.index_bytes,
                "live_tuples": stats.live_tuples,
                "dead_tuples": stats.dead_tuples,
                "deadlocks": locks.deadlocks,
                "waiting_locks": locks.waiting_locks,
            },
        )
        taken.append(snapshot)
    return taken


def _cleanup_times(since: datetime) -> list[dict[str, Any]]:
    from ballast.uploads.models import CleanupRun

    lifecycle = (
        MaintenanceRun.objects.using(SYSTEM)
        .filter(started_at__gte=since)
        .values("task")
        .annotate(runs=Count("id"), total=Sum("duration_seconds"), longest=Max("duration_seconds"))
        .order_by("task")
    )
    figures = [
        {
            "task": row["task"],
            "runs": row["runs"],
            "total_seconds": round(row["total"], 3),
            "max_seconds": round(row["longest"], 3),
        }
        for row in lifecycle
    ]
    uploads = (
        CleanupRun.objects.unscoped()
        .using(SYSTEM)
        .filter(started_at__gte=since, dry_run=False)
        .annotate(seconds=F("finished_at") - F("started_at"))
        .values("kind")
        .annotate(runs=Count("id"), total=Sum("seconds"), longest=Max("seconds"))
        .order_by("kind")
    )
    figures += [
        {
            "task": f"uploads.cleanup.{row['kind']}",
            "runs": row["runs"],
            "total_seconds": round(row["total"].total_seconds(), 3),
            "max_seconds": round(row["longest"].total_seconds(), 3),
        }
        for row in uploads
    ]
    return figures


def governance_report(*, days: int = 7) -> dict[str, Any]:
    """The figures of the last `days` days, as JSON-ready data: partitions created, dropped and hit by queries,
    cleanup times, each table's size and bloat now and its daily trend, lock waits and deadlocks."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    until = timezone.now()
    since = until - timedelta(days=days)
    runs = MaintenanceRun.objects.using(SYSTEM).filter(started_at__gte=since).order_by("started_at")
    created = [{"partition": name, "at": run.started_at.isoformat()} for run in runs for name in run.created]
    dropped = [{"partition": name, "at": run.started_at.isoformat()} for run in runs for name in run.dropped]
    partitions = partition_stats()
    snapshots = TableSizeSnapshot.objects.using(SYSTEM).filter(day__gte=since.date()).order_by("day", "table")
    trend: dict[str, list[dict[str, Any]]] = {}
    for snapshot in snapshots:
        trend.setdefault(snapshot.table, []).append(
            {
                "day": snapshot.day.isoformat(),
                "total_bytes": snapshot.total_bytes,
                "dead_tuples": snapshot.dead_tuples,
                "live_tuples": snapshot.live_tuples,
            }
        )
    locks = lock_stats()
    first = snapshots.first()
    return {
        "days": days,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "partitions": {
            "created": created,
            "dropped": dropped,
            "hit": [
                {"table": p.table, "partition": p.partition, "seq_scans": p.seq_scans, "index_scans": p.index_scans}
                for p in partitions
                if p.seq_scans or p.index_scans
            ],
        },
        "cleanup": _cleanup_times(since),
        "tables": [
            {**asdict(stats), "dead_ratio": stats.dead_ratio, "trend": trend.get(stats.table, [])}
            for stats in table_stats(partitions)
        ],
        "locks": {
            "waiting_now": locks.waiting_locks,
            "deadlocks_total": locks.deadlocks,
            # Since the window's first snapshot; None until a snapshot exists in it.
            "deadlocks_in_window": None if first is None else max(0, locks.deadlocks - first.deadlocks),
            "max_waiting_at_snapshots": max((s.waiting_locks for s in snapshots), default=0),
        },
    }


def report_text(report: dict[str, Any]) -> str:
    """The report as plain text, for the mail and the command's default output."""
    lines = [f"Ballast data governance, {report['since'][:10]} .. {report['until'][:10]} ({report['days']} days)", ""]
    parts = report["partitions"]
    lines.append(f"Partitions created: {len(parts['created'])}, dropped: {len(parts['dropped'])}")
    lines += [f"  dropped {item['partition']} at {item['at'][:16]}" for item in parts["dropped"]]
    lines.append(f"Partitions hit by queries: {len(parts['hit'])}")
    lines += [f"  {h['partition']}: {h['seq_scans']} seq, {h['index_scans']} index scans" for h in parts["hit"]]
    lines += ["", "Cleanup times:"]
    lines += [
        f"  {c['task']}: {c['runs']} runs, {c['total_seconds']} s in all, longest {c['max_seconds']} s"
        for c in report["cleanup"]
    ] or ["  no run recorded"]
    lines += ["", "Tables (size, index size, dead tuples, dead ratio; trend: first .. last snapshot):"]
    for t in report["tables"]:
        trend = t["trend"]
        change = (
            f"; {trend[0]['total_bytes']} .. {trend[-1]['total_bytes']} bytes since {trend[0]['day']}" if trend else ""
        )
        lines.append(
            f"  {t['table']}: {t['total_bytes']} bytes, {t['index_bytes']} index, {t['dead_tuples']} dead, "
            f"{t['dead_ratio']:.1%}{change}"
        )
    locks = report["locks"]
    in_window = "unknown (no snapshot yet)" if locks["deadlocks_in_window"] is None else locks["deadlocks_in_window"]
    lines += [
        "",
        f"Locks: {locks['waiting_now']} waiting now (at most {locks['max_waiting_at_snapshots']} at the daily "
        f"snapshots); deadlocks in the window: {in_window} ({locks['deadlocks_total']} since the statistics reset)",
    ]
    return "\n".join(lines) + "\n"
