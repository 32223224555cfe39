"""Monthly range partitions of the outbox: created ahead by maintenance, dropped whole for retention.

DDL runs as the owner role. Each partition gets the same forced row-level security as its parent,
since a query naming a partition directly does not go through the parent's policy.
"""

from __future__ import annotations

import re
from datetime import date

from django.db import connections
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


def ensure_partitions(*, months_ahead: int = 3, using: str = "owner", today: date | None = None) -> list[str]:
    """This month's partition and `months_ahead` more. Safe to call twice; the names it created."""
    start = month_start(today or timezone.now().date())
    present = set(existing_partitions(using))
    created = []
    with connections[using].cursor() as cursor:
        for offset in range(months_ahead + 1):
            month = add_months(start, offset)
            if partition_name(month) in present:
                continue
            for statement in create_partition_sql(month):
                cursor.execute(statement)
            created.append(partition_name(month))
    return created


def drop_partitions_before(cutoff: date, *, using: str = "owner") -> list[str]:
    """Detach and drop every partition that ends on or before `cutoff`'s month: retention without DELETE."""
    boundary = month_start(cutoff)
    dropped = []
    with connections[using].cursor() as cursor:
        for name in existing_partitions(using):
            match = _NAME.match(name)
            if not match:
                continue
            start = date(int(match.group(1)), int(match.group(2)), 1)
            if add_months(start, 1) <= boundary:
                cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
                dropped.append(name)
    return dropped
