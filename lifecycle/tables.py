"""The high-volume tables that are range-partitioned by time, and how long each keeps its rows.

Retention and partition_health walk this list; the DELETE gate (lifecycle.delete_gate) guards these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone

from jobs import sql as jobs_sql
from outbox.partitions import OUTBOX
from tenants.partitioning import RangePartitioned, add_months

# A partition of checkpoints is kept while any job with a checkpoint in it is unfinished: it is that job's
# resume point, however old.
_CHECKPOINT_OF_UNFINISHED_JOB = (
    "SELECT 1 FROM {partition} c JOIN jobs_job j ON j.id = c.job_id "
    "WHERE j.status NOT IN ('succeeded', 'failed', 'cancelled') LIMIT 1"
)


def _days(name: str) -> Callable[[date], date]:
    def cutoff(today: date) -> date:
        return date.fromordinal(today.toordinal() - int(getattr(settings, name)))

    return cutoff


def _months(name: str) -> Callable[[date], date]:
    def cutoff(today: date) -> date:
        return add_months(today.replace(day=1), -int(getattr(settings, name)))

    return cutoff


@dataclass(frozen=True)
class HighVolumeTable:
    spec: RangePartitioned
    retention_setting: str
    cutoff: Callable[[date], date]  # rows older than this day may go
    keep_if: str = ""  # SQL over {partition}: a row back means the partition must stay
    keep_reason: str = ""  # what keep_if found, for the report
    # SQL run (system alias) on a partition past retention before keep_if is asked, e.g. moving out what keeps
    # it; formatted with {partition}, {start} and {end}. Never in a dry run.
    prepare: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return self.spec.table

    def retention_cutoff(self, today: date | None = None) -> date:
        return self.cutoff(today or timezone.now().date())


TABLES: tuple[HighVolumeTable, ...] = (
    HighVolumeTable(
        RangePartitioned("jobs_jobattempt", "started_at", "month"), "RETENTION_JOBS_DAYS", _days("RETENTION_JOBS_DAYS")
    ),
    HighVolumeTable(
        RangePartitioned("jobs_checkpoint", "created_at", "month"),
        "RETENTION_JOBS_DAYS",
        _days("RETENTION_JOBS_DAYS"),
        keep_if=_CHECKPOINT_OF_UNFINISHED_JOB,
        keep_reason="holds a checkpoint of an unfinished job",
    ),
    # Jobs by the month they were enqueued; a month goes once all of its jobs have finished.
    HighVolumeTable(
        RangePartitioned("jobs_job", "retention_at", "month"),
        "RETENTION_JOBS_DAYS",
        _days("RETENTION_JOBS_DAYS"),
        keep_if=jobs_sql.UNFINISHED_IN_PARTITION,
        keep_reason="holds unfinished jobs (or their dead letters)",
        prepare=(jobs_sql.CARRY_FORWARD, jobs_sql.DEAD_LETTERS_OF_PARTITION),
    ),
    HighVolumeTable(
        RangePartitioned("tenants_auditentry", "at", "month"), "RETENTION_AUDIT_DAYS", _days("RETENTION_AUDIT_DAYS")
    ),
    HighVolumeTable(OUTBOX, "OUTBOX_RETENTION_MONTHS", _months("OUTBOX_RETENTION_MONTHS")),
)


def by_table(name: str) -> HighVolumeTable:
    for table in TABLES:
        if table.table == name:
            return table
    raise KeyError(f"{name} is not a partitioned high-volume table (lifecycle.tables.TABLES)")
