"""The high-volume tables that are range-partitioned by time, and how long each keeps its rows.

Retention and partition_health walk this list; the DELETE gate (lifecycle.delete_gate) guards these tables.
Idempotency records are partitioned by day, the rest by month. Finished jobs themselves (jobs_job) are not
partitioned yet: see the README's Data lifecycle section.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from outbox.partitions import IDEMPOTENCY_RECORDS, OUTBOX
from tenants.partitioning import RangePartitioned, add_months

# A partition of checkpoints is kept while any job with a checkpoint in it is unfinished: it is that job's
# resume point, however old.
_CHECKPOINT_OF_UNFINISHED_JOB = (
    "SELECT 1 FROM {partition} c JOIN jobs_job j ON j.id = c.job_id "
    "WHERE j.status NOT IN ('succeeded', 'failed', 'cancelled') LIMIT 1"
)
# A day of idempotency records is kept while any record in it is live: a key taken over (its first request
# died) keeps its record, and so its day, for another TTL.
_LIVE_IDEMPOTENCY_RECORD = "SELECT 1 FROM {partition} WHERE expires_at > now() LIMIT 1"


def _days(name: str) -> Callable[[date], date]:
    def cutoff(today: date) -> date:
        return date.fromordinal(today.toordinal() - int(getattr(settings, name)))

    return cutoff


def _ttl_plus_a_day(name: str) -> Callable[[date], date]:
    """A day partition goes once every record in it has expired: a record created on day D expires by
    D + 1 day + TTL. A whole day more is kept as a margin (clock skew, a late in-flight request)."""

    def cutoff(today: date) -> date:
        return today - timedelta(days=math.ceil(int(getattr(settings, name)) / 24) + 1)

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
    keep_reason: str = ""  # what a row back from keep_if means, for retention's report
    ahead_setting: str = "LIFECYCLE_PARTITIONS_AHEAD"  # periods kept ready ahead

    @property
    def ahead(self) -> int:
        return int(getattr(settings, self.ahead_setting))

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
    HighVolumeTable(
        RangePartitioned("tenants_auditentry", "at", "month"), "RETENTION_AUDIT_DAYS", _days("RETENTION_AUDIT_DAYS")
    ),
    HighVolumeTable(
        OUTBOX, "OUTBOX_RETENTION_MONTHS", _months("OUTBOX_RETENTION_MONTHS"), ahead_setting="OUTBOX_PARTITIONS_AHEAD"
    ),
    HighVolumeTable(
        IDEMPOTENCY_RECORDS,
        "IDEMPOTENCY_TTL_HOURS",
        _ttl_plus_a_day("IDEMPOTENCY_TTL_HOURS"),
        keep_if=_LIVE_IDEMPOTENCY_RECORD,
        keep_reason="holds a live idempotency record",
        ahead_setting="IDEMPOTENCY_PARTITIONS_AHEAD",
    ),
)


def by_table(name: str) -> HighVolumeTable:
    for table in TABLES:
        if table.table == name:
            return table
    raise KeyError(f"{name} is not a partitioned high-volume table (lifecycle.tables.TABLES)")
