"""Monthly range partitions of the outbox: created ahead by maintenance, dropped whole for retention.

DDL runs as the owner role. Each partition gets the same forced row-level security as its parent,
since a query naming a partition directly does not go through the parent's policy.
"""

from __future__ import annotations

import re
import time
from datetime import date

import psycopg
from django.db import OperationalError, connections, transaction
from django.utils import timezone

from tenants.rls import enable_rls_sql

PARENT = "outbox_outboxevent"
_NAME = re.compile(rf"^{PARENT}_p(\d{{4}})(\d{{2}})$")


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(start: date) -> str:
    return f"{PARENT}_p{start:%Y%m}"


def create_partition_sql(start: date) -> list[str]:
    name = partition_name(start)
    end = add_months(start, 1)
    return [
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} FOR VALUES FROM ('{start}') TO ('{end}')",
        # Every event is updated once (pending -> delivered): vacuum early, or the pending index bloats.
        f"ALTER TABLE {name} SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000)",
        *enable_rls_sql(name),
    ]


def existing_partitions(using: str = "owner") -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [PARENT],
        )
        return [row[0] for row in cursor.fetchall()]


DDL_LOCK_TIMEOUT = "2s"
DDL_ATTEMPTS = 5


class PartitionLockTimeout(RuntimeError):
    """Partition DDL could not get its lock in DDL_ATTEMPTS tries; nothing was changed. Try again later."""


def run_ddl(statements: list[str], *, using: str = "owner", attempts: int = DDL_ATTEMPTS) -> None:
    """Run partition DDL in one transaction with a lock_timeout, retried with backoff.

    CREATE ... PARTITION OF and DETACH take strong locks on the parent: queued behind a long transaction,
    they would block every writer queued behind them. With a lock_timeout they give up at once instead and
    try again a little later."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(using=using), connections[using].cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
                for statement in statements:
                    cursor.execute(statement)
            return
        except OperationalError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable) or attempt == attempts:
                if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                    raise PartitionLockTimeout(f"partition DDL gave up after {attempts} tries: {exc}") from exc
                raise
            time.sleep(min(5.0, 0.2 * 2**attempt))


def ensure_partitions(*, months_ahead: int = 3, using: str = "owner", today: date | None = None) -> list[str]:
    """This month's partition and `months_ahead` more. Safe to call twice; the names it created."""
    start = month_start(today or timezone.now().date())
    present = set(existing_partitions(using))
    created = []
    for offset in range(months_ahead + 1):
        month = add_months(start, offset)
        if partition_name(month) in present:
            continue
        run_ddl(create_partition_sql(month), using=using)
        created.append(partition_name(month))
    return created


def drop_partitions_before(cutoff: date, *, using: str = "owner") -> list[str]:
    """Detach and drop every partition that ends on or before `cutoff`'s month: retention without DELETE."""
    boundary = month_start(cutoff)
    dropped = []
    for name in existing_partitions(using):
        match = _NAME.match(name)
        if not match:
            continue
        start = date(int(match.group(1)), int(match.group(2)), 1)
        if add_months(start, 1) <= boundary:
            run_ddl([f"ALTER TABLE {PARENT} DETACH PARTITION {name}", f"DROP TABLE {name}"], using=using)
            dropped.append(name)
    return dropped
