"""Retention: whole partitions past their table's retention are detached and dropped, never rows DELETEd.

Runs hourly (lifecycle.maintenance) and as `manage.py retention [--dry-run]`. As the owner role (DDL).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date

from django.db import connections

from lifecycle.tables import TABLES, HighVolumeTable
from tenants.partitioning import Partition

logger = logging.getLogger(__name__)
OWNER = "owner"  # DDL
READER = "system"  # reads rows: forced row-level security hides every row from the owner


@dataclass
class Decision:
    table: str
    partition: str
    start: str
    end: str
    rows: int
    action: str  # "drop", "dropped", or "keep: <why>"


@dataclass
class RetentionReport:
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)

    @property
    def dropped(self) -> list[str]:
        return [d.partition for d in self.decisions if d.action in ("drop", "dropped")]

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "decisions": [asdict(d) for d in self.decisions]}


def _rows(partition: str) -> int:
    with connections[READER].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partition}")  # noqa: S608 (a partition name from the catalogue)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _kept_because(table: HighVolumeTable, partition: Partition) -> str:
    if not table.keep_if:
        return ""
    with connections[READER].cursor() as cursor:
        cursor.execute(table.keep_if.format(partition=partition.name))
        return table.keep_reason if cursor.fetchone() else ""


def apply_retention(*, dry_run: bool = False, today: date | None = None) -> RetentionReport:
    """Drop every partition wholly older than its table's retention; `dry_run` only says what would go."""
    report = RetentionReport(dry_run=dry_run)
    for table in TABLES:
        cutoff = table.retention_cutoff(today)
        for partition in table.spec.detached(OWNER):  # detached by a run that died before its drop
            if partition.end <= cutoff:
                if not dry_run:
                    table.spec.drop(partition, using=OWNER)
                report.decisions.append(
                    Decision(table.table, partition.name, str(partition.start), str(partition.end), 0,
                             "drop" if dry_run else "dropped")
                )  # fmt: skip
        for partition in table.spec.expired(cutoff, OWNER):
            reason = _kept_because(table, partition)
            decision = Decision(
                table=table.table,
                partition=partition.name,
                start=str(partition.start),
                end=str(partition.end),
                rows=_rows(partition.name),
                action=f"keep: {reason}" if reason else ("drop" if dry_run else "dropped"),
            )
            if not reason and not dry_run:
                table.spec.drop(partition, using=OWNER)
                logger.info("retention dropped %s (%d rows, before %s)", partition.name, decision.rows, cutoff)
            report.decisions.append(decision)
    return report
