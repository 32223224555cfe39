"""Range partitions of the outbox (monthly) and of the HTTP idempotency records (daily), through
ballast.lib.partitioning: created ahead by maintenance, dropped whole for retention. Neither has a default
partition: a row outside every partition is refused, loudly, and partitions detach CONCURRENTLY."""

from __future__ import annotations

from datetime import date

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
