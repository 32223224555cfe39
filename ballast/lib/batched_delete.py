"""Bounded-batch DELETE: the only way code removes rows from a high-volume table (lifecycle/delete_gate.py
fails the suite for any other). Each batch is one short statement under a `lock_timeout`, so it never queues
behind a long transaction with every writer queued behind it, and never holds more than `batch` row locks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, transaction

DEFAULT_BATCH = 5000
DEFAULT_LOCK_TIMEOUT_MS = 2000


def delete_batch(
    *,
    table: str,
    where: str,
    params: Sequence[Any] = (),
    using: str,
    batch: int = DEFAULT_BATCH,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    key: str = "id",
) -> int:
    """Delete at most `batch` rows of `table` matching `where` (SQL with %s placeholders) in the caller's
    transaction (one is opened when there is none); returns how many went. `where` is code, never input."""
    quoted = connections[using].ops.quote_name(table)
    # The condition is repeated outside the subquery: on a partitioned table `id` alone need not be unique.
    statement = (
        f"DELETE FROM {quoted} WHERE ({where}) AND {key} IN "  # noqa: S608 (identifiers from code, values bound)
        f"(SELECT {key} FROM {quoted} WHERE ({where}) LIMIT {int(batch)})"
    )
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout_ms)}ms"])
        cursor.execute(statement, [*params, *params])
        return int(cursor.rowcount)


def delete_in_batches(
    *,
    table: str,
    where: str,
    params: Sequence[Any] = (),
    using: str,
    batch: int = DEFAULT_BATCH,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """delete_batch until fewer than `batch` rows go (or `max_batches` ran), each batch its own transaction.
    `on_batch(deleted_so_far)` after each. Safe to stop and call again: it resumes with what is left."""
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        deleted = delete_batch(
            table=table, where=where, params=params, using=using, batch=batch, lock_timeout_ms=lock_timeout_ms
        )
        total += deleted
        batches += 1
        if on_batch is not None:
            on_batch(total)
        if deleted < batch:
            break
    return total
