"""Retention: whole partitions past their table's retention are detached and dropped; no row of a partitioned
table is DELETEd (a month of jobs loses its dead letters first, in bounded batches: a table's `prepare`).

Runs hourly (the periodic task lifecycle.retention) and as `manage.py retention [--dry-run]`. As the owner role (DDL).

A partition that looks droppable is detached first, then decided on again, and only then dropped: once
detached, no claim, retry or update can reach its rows (the detach waits for the writers' locks, and after it
their statements no longer see the rows), so the second decision reads rows that can no longer change. When
the second look finds a row that must stay (it changed between the two), the partition is attached back.
A partition left detached by a run that died is decided on the same way by the next run.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date

from django.db import DatabaseError, connections

from ballast.lib.owner_role import catalogue_alias, owner_configured, owner_hint
from ballast.lib.partitioned_tables import HighVolumeTable, tables
from ballast.lib.partitioning import Partition
from ballast.lifecycle.governance import recorded_run

logger = logging.getLogger(__name__)
OWNER = "owner"  # DDL
READER = "system"  # reads rows: forced row-level security hides every row from the owner


class RetentionRefused(RuntimeError):
    """The run cannot start (nothing was changed); the message says what to do."""


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
    refusals: list[str] = field(default_factory=list)  # what the real run would refuse (a dry run's report)

    @property
    def dropped(self) -> list[str]:
        return [d.partition for d in self.decisions if d.action in ("drop", "dropped")]

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "decisions": [asdict(d) for d in self.decisions],
            "refusals": self.refusals,
        }


def refusals() -> list[str]:
    """Why a real run would be refused here: it drops partitions, which only the owner may."""
    return [] if owner_configured() else [f"retention {owner_hint('retention')}"]


def _rows(partition: str) -> int:
    with connections[READER].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partition}")  # noqa: S608 (a partition name from the catalogue)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _prepare(table: HighVolumeTable, partition: Partition) -> None:
    for statement in table.prepare:
        with connections[READER].cursor() as cursor:
            cursor.execute(statement.format(partition=partition.name, start=partition.start, end=partition.end))


def _kept_because(table: HighVolumeTable, partition: Partition) -> str:
    if not table.keep_if:
        return ""
    with connections[READER].cursor() as cursor:
        cursor.execute(table.keep_if.format(partition=partition.name))
        return (table.keep_reason or "keep_if matched") if cursor.fetchone() else ""


def _drop_or_attach_back(table: HighVolumeTable, partition: Partition) -> str:
    """On a detached partition, whose rows nothing else can change any more: drop it, or attach it back when
    its table's keep rule now holds. The decision's action."""
    reason = _kept_because(table, partition)
    if not reason:
        table.spec.drop_detached(partition, using=OWNER)
        return "dropped"
    try:
        table.spec.attach(partition, using=OWNER)
    except DatabaseError as exc:
        logger.error("retention could not attach %s back (left detached, kept): %s", partition.name, exc)
        return f"keep: {reason} (left detached: attaching it back failed: {exc})"
    return f"keep: {reason} (found once detached; attached back)"


def apply_retention(*, dry_run: bool = False, today: date | None = None) -> RetentionReport:
    """Drop every partition wholly older than its table's retention; `dry_run` only says what would go (and,
    in `refusals`, why a real run would be refused). RetentionRefused before any change. A real run is recorded
    (lifecycle.governance) with the partitions it dropped."""
    report = RetentionReport(dry_run=dry_run, refusals=refusals())
    if report.refusals and not dry_run:
        raise RetentionRefused("; ".join(report.refusals))
    if dry_run:
        _decide(report, dry_run=True, today=today)
        return report
    with recorded_run("lifecycle.retention") as run:
        _decide(report, dry_run=False, today=today)
        run.dropped = [d.partition for d in report.decisions if d.action == "dropped"]
    return report


def _decide(report: RetentionReport, *, dry_run: bool, today: date | None) -> None:
    catalogue = catalogue_alias()
    for table in tables():
        cutoff = table.retention_cutoff(today)
        decided: set[str] = set()
        for partition in table.spec.detached(catalogue):  # detached by a run that died before its decision
            if partition.end <= cutoff:
                decided.add(partition.name)
                rows = _rows(partition.name)
                if dry_run:
                    reason = _kept_because(table, partition)
                    action = f"keep: {reason}" if reason else "drop"
                else:
                    action = _drop_or_attach_back(table, partition)
                report.decisions.append(
                    Decision(table.table, partition.name, str(partition.start), str(partition.end), rows, action)
                )
        for partition in table.spec.expired(cutoff, catalogue):
            if partition.name in decided:
                continue  # attached back just now
            if not dry_run:
                _prepare(table, partition)
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
                # Droppable at first look: detach it, so its rows stop changing, and decide again on them.
                table.spec.detach(partition, using=OWNER)
                decision.action = _drop_or_attach_back(table, partition)
                if decision.action == "dropped":
                    logger.info("retention dropped %s (%d rows, before %s)", partition.name, decision.rows, cutoff)
            report.decisions.append(decision)
