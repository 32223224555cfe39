"""Transaction-scoped advisory locks on one tenant's keys.

Where no unique index can hold a key (its rows span partitions, or it names "one unfinished job"), writers of
one key take turns on a lock instead, and a statement after the lock (READ COMMITTED: a fresh snapshot) sees
what the holder before committed. Keys are locked in order, so two writers never wait for each other in a
cycle. Must run inside the caller's transaction: the locks are released when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections

LOCK_KEYS = (
    "SELECT pg_advisory_xact_lock(hashtextextended(%(space)s || ':' || key, %(tenant_id)s)) "
    "FROM unnest(%(keys)s::text[]) AS key ORDER BY key"
)


def lock_keys(*, space: str, tenant_id: int, keys: Sequence[str], using: str = "default") -> None:
    """Hold each of `keys` (of `space`, e.g. "jobs.idempotency_key") for the tenant until the transaction ends."""
    if not connections[using].in_atomic_block:
        raise RuntimeError("lock_keys outside a transaction would release its locks at once")
    with connections[using].cursor() as cursor:
        cursor.execute(LOCK_KEYS, {"space": space, "tenant_id": tenant_id, "keys": list(keys)})
