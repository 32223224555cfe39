"""The high-volume tables that are range-partitioned by time, and how long each keeps its rows.

Retention and partition_health walk this list; the DELETE gate (lifecycle.delete_gate) guards these tables.
Idempotency records are partitioned by day, the rest by month. The keep_if queries read only partitions already
past retention, and each through a partial index.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from ballast.jobs import sql as jobs_sql
from ballast.lib.partitioning import RangePartitioned, add_months
from ballast.outbox.partitions import IDEMPOTENCY_RECORDS, OUTBOX

# A partition of checkpoints is kept while any job with a checkpoint in it is unfinished: it is that job's
# resume point, however old.
_CHECKPOINT_OF_UNFINISHED_JOB = (
    "SELECT 1 FROM {partition} c JOIN jobs_job j ON j.id = c.job_id "  # noqa: S608 (constants)
    f"WHERE j.status NOT IN {jobs_sql.FINISHED} LIMIT 1"
)
# A day of idempotency records is kept while any record in it is live: a key taken over (its first request
# died) keeps its record, and so its day, for another TTL.
_LIVE_IDEMPOTENCY_RECORD = "SELECT 1 FROM {partition} WHERE expires_at > now() LIMIT 1"

# A month of outbox events is kept while an event in it is pending: the relay has not delivered it yet (it is
# retried until delivered or failed after OUTBOX_MAX_ATTEMPTS), and dropping it would lose the event. Found
# through the partial index outbox_pending.
_UNDELIVERED_OUTBOX_EVENT = "SELECT 1 FROM {partition} WHERE status = 'pending' LIMIT 1"

# A month of webhook deliveries is kept while a delivery in it is pending: its next attempt is scheduled (the
# schedule spans about a day; Retry-After can stretch it), and dropping it would lose the delivery. Found through
# the partial index webhookdelivery_pending.
_PENDING_WEBHOOK_DELIVERY = "SELECT 1 FROM {partition} WHERE status = 'pending' LIMIT 1"

# A month of email deliveries is kept while a delivery in it is not sent or failed and its email.send job has
# not finished: that job will still read the row (retries, an `unknown` outcome sent again). Found through the
# partial index emaildelivery_unfinished.
_UNFINISHED_EMAIL_DELIVERY = (
    "SELECT 1 FROM {partition} d JOIN jobs_job j ON j.id = d.job_id "  # noqa: S608 (constants)
    "WHERE d.status IN ('pending', 'sending', 'unknown') "
    f"AND j.status NOT IN {jobs_sql.FINISHED} LIMIT 1"
)


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
    keep_reason: str = ""  # what keep_if found, for the report
    # SQL run (system alias) on a partition past retention before keep_if is asked, e.g. moving out what keeps
    # it; formatted with {partition}, {start} and {end}. Never in a dry run.
    prepare: tuple[str, ...] = ()
    # Tenants with partitions of their own get a leaf in each period of this table (lifecycle.dedicated_tenants); the
    # table's unique keys must hold tenant_id.
    per_tenant: bool = False
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
        keep_reason="holds a checkpoint of an unfinished job",
        per_tenant=True,
    ),
    # Jobs by the month they were enqueued; a month goes once all of its jobs have finished.
    HighVolumeTable(
        RangePartitioned("jobs_job", "retention_at", "month"),
        "RETENTION_JOBS_DAYS",
        _days("RETENTION_JOBS_DAYS"),
        keep_if=jobs_sql.UNFINISHED_IN_PARTITION,
        keep_reason="holds unfinished jobs (or their dead letters)",
        prepare=(jobs_sql.CARRY_FORWARD, jobs_sql.DEAD_LETTERS_OF_PARTITION),
        # Every claim is planned over all of jobs_job's partitions: as few ahead as is safe.
        ahead_setting="JOBS_PARTITIONS_AHEAD",
        # Not per tenant: a tenant's purge runs as one of its own jobs, which a drop of its leaf would take along.
    ),
    HighVolumeTable(
        RangePartitioned("tenants_auditentry", "at", "month"),
        "RETENTION_AUDIT_DAYS",
        _days("RETENTION_AUDIT_DAYS"),
        per_tenant=True,
    ),
    HighVolumeTable(
        OUTBOX,
        "OUTBOX_RETENTION_MONTHS",
        _months("OUTBOX_RETENTION_MONTHS"),
        keep_if=_UNDELIVERED_OUTBOX_EVENT,
        keep_reason="holds an outbox event not yet delivered",
        ahead_setting="OUTBOX_PARTITIONS_AHEAD",
        per_tenant=True,
    ),
    HighVolumeTable(
        RangePartitioned("webhooks_webhookdelivery", "event_created_at", "month"),
        "RETENTION_WEBHOOK_DELIVERIES_DAYS",
        _days("RETENTION_WEBHOOK_DELIVERIES_DAYS"),
        keep_if=_PENDING_WEBHOOK_DELIVERY,
        keep_reason="holds a pending webhook delivery",
    ),
    HighVolumeTable(
        RangePartitioned("emails_emaildelivery", "created_at", "month"),
        "RETENTION_EMAIL_DELIVERIES_DAYS",
        _days("RETENTION_EMAIL_DELIVERIES_DAYS"),
        keep_if=_UNFINISHED_EMAIL_DELIVERY,
        keep_reason="holds an email delivery whose job has not finished",
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


def per_tenant_tables() -> tuple[HighVolumeTable, ...]:
    return tuple(table for table in TABLES if table.per_tenant)


def by_table(name: str) -> HighVolumeTable:
    for table in TABLES:
        if table.table == name:
            return table
    raise KeyError(f"{name} is not a partitioned high-volume table (lifecycle.tables.TABLES)")
