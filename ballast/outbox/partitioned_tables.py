"""The outbox app's partitioned tables: outbox events (monthly, per tenant) and the HTTP idempotency records
(daily), through ballast.lib.partitioning: created ahead by maintenance, dropped whole for retention. Neither has
a default partition: a row outside every partition is refused, loudly, and partitions detach CONCURRENTLY."""

from __future__ import annotations

from datetime import date

from ballast.lib.partitioned_tables import HighVolumeTable, months, register, ttl_plus_a_day
from ballast.lib.partitioning import PartitionLockTimeout, RangePartitioned, add_months, month_start, run_ddl

__all__ = [
    "IDEMPOTENCY_RECORDS",
    "OUTBOX",
    "PartitionLockTimeout",
    "add_months",
    "ensure_partitions",
    "existing_partitions",
    "month_start",
    "partition_name",
    "run_ddl",
]

PARENT = "outbox_outboxevent"
# Every event is updated once (pending -> delivered): vacuum early, or the pending index bloats.
OUTBOX = RangePartitioned(
    PARENT,
    "created_at",
    "month",
    has_default=False,
    storage="autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000",
)

# One partition per UTC day of `day` (the record's first use). Each record is updated once (in flight ->
# completed), so partitions vacuum early too. No default partition: a keyed request with no partition for its
# day fails (500) rather than writing rows that nothing would ever drop; IDEMPOTENCY_PARTITIONS_AHEAD days are
# kept ready and preflight fails when tomorrow's is missing.
IDEMPOTENCY_RECORDS = RangePartitioned(
    "outbox_idempotencyrecord",
    "day",
    "day",
    has_default=False,
    storage="autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000",
)


def partition_name(start: date) -> str:
    return OUTBOX.partition_name(start)


def existing_partitions(using: str = "owner") -> list[str]:
    return OUTBOX.partition_names(using)


def ensure_partitions(*, months_ahead: int = 3, using: str = "owner", today: date | None = None) -> list[str]:
    """This month's partition and `months_ahead` more. Safe to call twice; the names it created."""
    return OUTBOX.ensure(ahead=months_ahead, using=using, today=today)


# A month of outbox events is kept while an event in it is pending: the relay has not delivered it yet (it is
# retried until delivered or failed after OUTBOX_MAX_ATTEMPTS), and dropping it would lose the event. Found
# through the partial index outbox_pending.
_UNDELIVERED_OUTBOX_EVENT = "SELECT 1 FROM {partition} WHERE status = 'pending' LIMIT 1"

# A day of idempotency records is kept while any record in it is live: a key taken over (its first request
# died) keeps its record, and so its day, for another TTL.
_LIVE_IDEMPOTENCY_RECORD = "SELECT 1 FROM {partition} WHERE expires_at > now() LIMIT 1"

register(
    HighVolumeTable(
        OUTBOX,
        "OUTBOX_RETENTION_MONTHS",
        months("OUTBOX_RETENTION_MONTHS"),
        keep_if=_UNDELIVERED_OUTBOX_EVENT,
        keep_reason="holds an outbox event not yet delivered",
        ahead_setting="OUTBOX_PARTITIONS_AHEAD",
        per_tenant=True,
    ),
    HighVolumeTable(
        IDEMPOTENCY_RECORDS,
        "IDEMPOTENCY_TTL_HOURS",
        ttl_plus_a_day("IDEMPOTENCY_TTL_HOURS"),
        keep_if=_LIVE_IDEMPOTENCY_RECORD,
        keep_reason="holds a live idempotency record",
        ahead_setting="IDEMPOTENCY_PARTITIONS_AHEAD",
    ),
)
