"""The outbox relay and the HTTP idempotency layer (outbox app)."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = [
    "IDEMPOTENCY_LOCK_SECONDS",
    "IDEMPOTENCY_PARTITIONS_AHEAD",
    "IDEMPOTENCY_TTL_HOURS",
    "OUTBOX_BATCH_SIZE",
    "OUTBOX_MAX_ATTEMPTS",
    "OUTBOX_PARTITIONS_AHEAD",
    "OUTBOX_POLL_INTERVAL_MS",
    "OUTBOX_RETENTION_MONTHS",
]

# The relay polls this often; a NOTIFY at each commit that emitted events wakes it sooner.
OUTBOX_POLL_INTERVAL_MS: int = env.int("OUTBOX_POLL_INTERVAL_MS", default=1000)
OUTBOX_BATCH_SIZE: int = env.int("OUTBOX_BATCH_SIZE", default=200)
# Hand-off attempts before an event is marked failed (and stops holding back its aggregate).
OUTBOX_MAX_ATTEMPTS: int = env.int("OUTBOX_MAX_ATTEMPTS", default=20)
OUTBOX_PARTITIONS_AHEAD: int = env.int("OUTBOX_PARTITIONS_AHEAD", default=3)
# Whole monthly partitions older than this are dropped.
OUTBOX_RETENTION_MONTHS: int = env.int("OUTBOX_RETENTION_MONTHS", default=3)
# How long a stored response is replayed for an Idempotency-Key. Records live in daily partitions, each dropped
# once it is this many hours plus a day old (and holds no live record).
IDEMPOTENCY_TTL_HOURS: int = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
# Daily partitions of idempotency records kept ready ahead (no default partition: a missing day refuses keys).
IDEMPOTENCY_PARTITIONS_AHEAD: int = env.int("IDEMPOTENCY_PARTITIONS_AHEAD", default=7)
# A request still "in flight" after this long is presumed dead: the key may be used again.
IDEMPOTENCY_LOCK_SECONDS: int = env.int("IDEMPOTENCY_LOCK_SECONDS", default=60)
