"""The high-volume tables that are range-partitioned by time, and how long each keeps its rows.

Retention and partition_health walk this list; the DELETE gate (lifecycle.delete_gate) guards these tables.
Finished jobs themselves (jobs_job) are not partitioned yet: see the README's Data lifecycle section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone

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
    # Tenants with partitions of their own get a leaf in each period of this table (lifecycle.partitions); the
    # table's unique keys must hold tenant_id.
    per_tenant: bool = False

    @property
    def table(self) -> str:
        return self.spec.table

    def retention_cutoff(self, today: date | None = None) -> date:
        return self.cutoff(today or timezone.now().date())


TABLES: tuple[HighVolumeTable, ...] = (
    HighVolumeTable(
        RangePartitioned("jobs_jobattempt", "started_at", "month"),
        "RETENTION_JOBS_DAYS",
        _days("RETENTION_JOBS_DAYS"),
        per_tenant=True,
    ),
    HighVolumeTable(
        RangePartitioned("jobs_checkpoint", "created_at", "month"),
        "RETENTION_JOBS_DAYS",
        _days("RETENTION_JOBS_DAYS"),
        keep_if=_CHECKPOINT_OF_UNFINISHED_JOB,
        per_tenant=True,
    ),
    HighVolumeTable(
        RangePartitioned("tenants_auditentry", "at", "month"),
        "RETENTION_AUDIT_DAYS",
        _days("RETENTION_AUDIT_DAYS"),
        per_tenant=True,
    ),
    HighVolumeTable(OUTBOX, "OUTBOX_RETENTION_MONTHS", _months("OUTBOX_RETENTION_MONTHS"), per_tenant=True),
)


def per_tenant_tables() -> tuple[HighVolumeTable, ...]:
    return tuple(table for table in TABLES if table.per_tenant)


def by_table(name: str) -> HighVolumeTable:
    for table in TABLES:
        if table.table == name:
            return table
    raise KeyError(f"{name} is not a partitioned high-volume table (lifecycle.tables.TABLES)")
