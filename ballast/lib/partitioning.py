"""Range partitions by time: naming, creation ahead, retention by DROP, and the DDL discipline they share.

Every app's partitioned table is described by one `RangePartitioned` (apps register theirs in
ballast.lib.partitioned_tables). Partitions are named `<parent>_pYYYYMM` (monthly) or `<parent>_pYYYYMMDD` (daily), plus
`<parent>_default` where the table has a safety-net DEFAULT partition. A period of a table where some tenants
have partitions of their own (lifecycle.dedicated_tenants) is itself `PARTITION BY LIST (tenant_id)`: one leaf
`<partition>_t<tenant_id>` per such tenant and a DEFAULT leaf `<partition>_tdefault` for everyone else.
DDL runs as the owner role, through `run_ddl`: a `lock_timeout` and bounded retries, so it never queues behind
a long transaction with every writer queued behind it. Each partition gets the parent's forced row-level
security, since a query naming a partition directly does not go through the parent's policy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import psycopg
from django.db import OperationalError, connections, transaction
from django.utils import timezone

from ballast.lib.rls import enable_rls_sql

Grain = Literal["day", "month"]

DDL_LOCK_TIMEOUT = "2s"
DDL_ATTEMPTS = 5


class PartitionLockTimeout(RuntimeError):
    """Partition DDL could not get its lock in DDL_ATTEMPTS tries; nothing was changed. Try again later."""


def run_ddl(statements: Sequence[str], *, using: str = "owner", attempts: int = DDL_ATTEMPTS) -> None:
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


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Partition:
    name: str
    start: date
    end: date


@dataclass(frozen=True)
class RangePartitioned:
    """One table range-partitioned by time on `column`, one partition per `grain`."""

    table: str
    column: str
    grain: Grain = "month"
    has_default: bool = True
    # Per-partition storage parameters, e.g. an early autovacuum for tables whose rows are updated once.
    storage: str = ""
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digits = r"(\d{4})(\d{2})(\d{2})" if self.grain == "day" else r"(\d{4})(\d{2})"
        object.__setattr__(self, "_pattern", re.compile(rf"^{self.table}_p{digits}$"))

    # Periods.
    def period_start(self, day: date) -> date:
        return day if self.grain == "day" else month_start(day)

    def add_periods(self, start: date, count: int) -> date:
        return start + timedelta(days=count) if self.grain == "day" else add_months(start, count)

    def partition_name(self, start: date) -> str:
        return f"{self.table}_p{start:%Y%m%d}" if self.grain == "day" else f"{self.table}_p{start:%Y%m}"

    @property
    def default_name(self) -> str:
        return f"{self.table}_default"

    def parse(self, name: str) -> Partition | None:
        match = self._pattern.match(name)
        if not match:
            return None
        parts = [int(group) for group in match.groups()]
        start = date(parts[0], parts[1], parts[2] if self.grain == "day" else 1)
        return Partition(name, start, self.add_periods(start, 1))

    # Per-tenant leaves of a period.
    @staticmethod
    def leaf_name(partition: str, tenant_id: int) -> str:
        return f"{partition}_t{int(tenant_id)}"

    @staticmethod
    def leaf_default_name(partition: str) -> str:
        return f"{partition}_tdefault"

    def leaves_sql(self, partition: str, tenants: Sequence[int], *, suffix: str = "") -> list[str]:
        """The LIST leaves of `partition` (already PARTITION BY LIST (tenant_id)): one per tenant and a default;
        each with the storage parameters and forced RLS. `suffix` is added to every leaf's name."""
        statements: list[str] = []
        leaves = [(self.leaf_name(partition, t), f"FOR VALUES IN ({int(t)})") for t in sorted(tenants)]
        leaves.append((self.leaf_default_name(partition), "DEFAULT"))
        for leaf, bound in leaves:
            name = leaf + suffix
            statements.append(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {partition}{suffix} {bound}")
            if self.storage:
                statements.append(f"ALTER TABLE {name} SET ({self.storage})")
            statements += enable_rls_sql(name)
        return statements

    # DDL.
    def create_partition_sql(self, start: date, tenants: Sequence[int] = (), *, parent: str = "") -> list[str]:
        """The period's partition; LIST-partitioned by tenant with a leaf per tenant in `tenants`, if any.
        `parent`: another table than this one (a migration's rebuild)."""
        name = self.partition_name(start)
        end = self.add_periods(start, 1)
        by_tenant = " PARTITION BY LIST (tenant_id)" if tenants else ""
        statements = [
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent or self.table} "
            f"FOR VALUES FROM ('{start}') TO ('{end}'){by_tenant}"
        ]
        if tenants:
            statements += self.leaves_sql(name, tenants)
        elif self.storage:
            statements.append(f"ALTER TABLE {name} SET ({self.storage})")
        return statements + enable_rls_sql(name)

    def create_default_sql(self, *, parent: str = "") -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.default_name} PARTITION OF {parent or self.table} DEFAULT",
            *enable_rls_sql(self.default_name),
        ]

    # Catalogue.
    def partition_names(self, using: str = "owner") -> list[str]:
        with connections[using].cursor() as cursor:
            return child_names(cursor, self.table)

    def partitions(self, using: str = "owner") -> list[Partition]:
        """The time partitions (not the default), oldest first."""
        found = [self.parse(name) for name in self.partition_names(using)]
        return sorted((p for p in found if p is not None), key=lambda p: p.start)

    # Maintenance.
    def ensure(
        self, *, ahead: int, using: str = "owner", today: date | None = None, tenants: Sequence[int] = ()
    ) -> list[str]:
        """This period's partition and `ahead` more (and the default), each with a leaf per tenant in `tenants`
        (tenants with partitions of their own). Safe to call twice; the names it created."""
        start = self.period_start(today or timezone.now().date())
        present = set(self.partition_names(using))
        created = []
        if self.has_default and self.default_name not in present:
            run_ddl(self.create_default_sql(), using=using)
            created.append(self.default_name)
        for offset in range(ahead + 1):
            period = self.add_periods(start, offset)
            if self.partition_name(period) in present:
                continue
            run_ddl(self.create_partition_sql(period, tenants), using=using)
            created.append(self.partition_name(period))
        return created

    def expired(self, cutoff: date, using: str = "owner") -> list[Partition]:
        """Partitions that end on or before `cutoff`: every row in them is older than the cutoff."""
        return [p for p in self.partitions(using) if p.end <= cutoff]

    def drop(self, partition: Partition, *, using: str = "owner") -> None:
        """Detach, then drop, in two transactions: retention without DELETE. The parent's lock is held only for
        the detach (milliseconds); the drop, which frees the files, locks only the detached table, which nobody
        reads any more. The detach is plain where the table has a default partition (Postgres forbids
        CONCURRENTLY there), concurrent otherwise. A table left detached by a crash in between is dropped by
        the next run (`detached`)."""
        self.detach(partition, using=using)
        run_ddl([f"DROP TABLE IF EXISTS {partition.name}"], using=using)

    def detach(self, partition: Partition, *, using: str = "owner") -> None:
        """Detach `partition` if it is attached (its rows leave the table at once; the files stay)."""
        if not self.has_default:
            detach_concurrently(self.table, partition.name, using=using)
        elif _is_partition(partition.name, using):
            run_ddl([f"ALTER TABLE {self.table} DETACH PARTITION {partition.name}"], using=using)

    def attach(self, partition: Partition, *, using: str = "owner") -> None:
        """Attach a detached `partition` back, under its own bounds (Postgres checks its rows against them)."""
        run_ddl(
            [
                f"ALTER TABLE {self.table} ATTACH PARTITION {partition.name} "
                f"FOR VALUES FROM ('{partition.start}') TO ('{partition.end}')"
            ],
            using=using,
        )

    def drop_detached(self, partition: Partition, *, using: str = "owner") -> None:
        """Drop a partition already detached; it locks only that table, which nobody reaches any more."""
        run_ddl([f"DROP TABLE IF EXISTS {partition.name}"], using=using)

    def detached(self, using: str = "owner") -> list[Partition]:
        """Tables named like this table's partitions that are no longer attached (a drop a crash interrupted)."""
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname LIKE %s "
                "AND NOT c.relispartition",
                [f"{self.table}_p%"],
            )
            found = [self.parse(row[0]) for row in cursor.fetchall()]
        return [p for p in found if p is not None]


def _is_partition(name: str, using: str) -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = %s)",
            [name],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def detach_concurrently(parent: str, name: str, *, using: str = "owner") -> None:
    """DETACH PARTITION ... CONCURRENTLY: writers are never blocked. It cannot run in a transaction; one left
    half-done by a crash is completed with FINALIZE."""
    connection = connections[using]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return  # already detached
    statement = f"ALTER TABLE {parent} DETACH PARTITION {name} " + ("FINALIZE" if row[0] else "CONCURRENTLY")
    if connection.in_atomic_block:
        raise RuntimeError("DETACH ... CONCURRENTLY cannot run inside a transaction")
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{DDL_LOCK_TIMEOUT}'")
        try:
            cursor.execute(statement)
        finally:
            cursor.execute("RESET lock_timeout")


# Converting a plain table to a partitioned one (and back), for migrations.


@dataclass(frozen=True)
class TableShape:
    """What a converted table must get back by name: Django's index and constraint names stay as they were."""

    spec: RangePartitioned
    indexes: tuple[tuple[str, str], ...]  # (name, "col, col")
    foreign_keys: tuple[tuple[str, str, str], ...]  # (name, column, "table(column)")
    unique: tuple[tuple[str, str], ...] = ()  # (name, "col, col") — must include the partition column
    # Take the indexes and foreign/unique keys from the catalogue instead (partial indexes, DESC columns): each
    # is re-created from its own definition, under its own name.
    from_catalogue: bool = False


def child_names(cursor: Any, parent: str) -> list[str]:
    """The tables directly attached to `parent` (partitions, or a period's leaves), by name."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
        [parent],
    )
    return [str(row[0]) for row in cursor.fetchall()]


def index_definitions(cursor: Any, table: str) -> list[str]:
    """CREATE INDEX statements of `table`'s indexes that back no constraint, as Postgres prints them."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) ORDER BY 1",
        [table],
    )
    return [str(row[0]) for row in cursor.fetchall()]


def constraint_definitions(cursor: Any, table: str, kinds: str) -> list[tuple[str, str]]:
    """(name, definition) of `table`'s constraints of the `kinds` given (pg_constraint.contype letters)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = ANY(%s) ORDER BY conname",
        [table, list(kinds)],
    )
    return [(str(name), str(body)) for name, body in cursor.fetchall()]


def _catalogue_sql(cursor: Any, table: str) -> list[str]:
    """The statements that re-create `table`'s indexes and its foreign and unique keys, as they are now."""
    statements = [definition.replace(" ON ONLY ", " ON ") for definition in index_definitions(cursor, table)]
    keys = constraint_definitions(cursor, table, "fu")
    return statements + [f"ALTER TABLE {table} ADD CONSTRAINT {name} {body}" for name, body in keys]


def _finish_sql(shape: TableShape, *, partitioned: bool) -> list[str]:
    table = shape.spec.table
    key = f"id, {shape.spec.column}" if partitioned else "id"
    statements = [f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})"]
    statements += [f"CREATE INDEX {name} ON {table} ({columns})" for name, columns in shape.indexes]
    for name, columns in shape.unique:
        if not partitioned:
            columns = ", ".join(c for c in columns.split(", ") if c != shape.spec.column)
        statements.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({columns})")
    statements += [
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target} "
        "DEFERRABLE INITIALLY DEFERRED"
        for name, column, target in shape.foreign_keys
    ]
    return statements + enable_rls_sql(table)


def _swap(cursor: Any, shape: TableShape, *, partitioned: bool) -> None:
    """Rebuild `shape`'s table as partitioned (or plain), rows included, under the same names."""
    spec = shape.spec
    table, new = spec.table, f"{spec.table}__new"
    recreate = _catalogue_sql(cursor, table) if shape.from_catalogue else []
    suffix = f" PARTITION BY RANGE ({spec.column})" if partitioned else ""
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS){suffix}"
    )
    # The owner reads and copies every tenant's rows: forced row-level security would show it none.
    cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    if partitioned:
        cursor.execute(f"SELECT min({spec.column})::date, max({spec.column})::date FROM {table}")  # noqa: S608 (names from code)
        low, high = cursor.fetchone()
        today = timezone.now().date()
        start = spec.period_start(min(low or today, today))
        last = spec.add_periods(spec.period_start(max(high or today, today)), 1)
        statements = spec.create_default_sql(parent=new) if spec.has_default else []
        while start <= last:
            statements += spec.create_partition_sql(start, parent=new)
            start = spec.add_periods(start, 1)
        for statement in statements:
            cursor.execute(statement)
    cursor.execute(f"INSERT INTO {new} SELECT * FROM {table}")  # noqa: S608 (names from code)
    cursor.execute(f"SELECT pg_get_serial_sequence('{new}', 'id')")
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT setval('{sequence}', COALESCE((SELECT max(id) FROM {new}), 0) + 1, false)")  # noqa: S608 (names from code)
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")
    # A foreign key is validated by a query as the referenced table's owner, which that table's forced row-level
    # security would show no rows (every row would look orphaned): lifted for this transaction only.
    targets = {target.split("(")[0].strip() for _, _, target in shape.foreign_keys}
    targets |= {match.group(1) for statement in recreate for match in re.finditer(r"REFERENCES (\w+)\(", statement)}
    cursor.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relforcerowsecurity", [sorted(targets)])
    forced = [row[0] for row in cursor.fetchall()]
    for name in forced:
        cursor.execute(f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY")
    for statement in _finish_sql(shape, partitioned=partitioned) + recreate:
        cursor.execute(statement)
    for name in forced:
        cursor.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")


def partition_existing(shape: TableShape) -> tuple[Any, Any]:
    """RunPython forward and backward functions that turn the table into a partitioned one and back, rows kept.
    Meant for tables of a new or small deployment: a large live table goes through `partition_convert`."""

    def forward(apps: Any, schema_editor: Any) -> None:
        with schema_editor.connection.cursor() as cursor:
            _swap(cursor, shape, partitioned=True)

    def backward(apps: Any, schema_editor: Any) -> None:
        with schema_editor.connection.cursor() as cursor:
            _swap(cursor, shape, partitioned=False)

    return forward, backward


def tenant_in_primary_key(spec: RangePartitioned) -> tuple[Any, Any]:
    """RunPython forward and backward functions: the primary key (id, <time column>) gains tenant_id, so a
    period can be LIST-partitioned by tenant (a partitioned table's unique keys hold every partition column).
    The way back refuses while a period is partitioned by tenant: release those tenants first."""
    table, column = spec.table, spec.column

    def rekey(schema_editor: Any, columns: str) -> None:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD CONSTRAINT {table}_pkey PRIMARY KEY ({columns})"
            )

    def forward(apps: Any, schema_editor: Any) -> None:
        rekey(schema_editor, f"id, {column}, tenant_id")

    def backward(apps: Any, schema_editor: Any) -> None:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s AND c.relkind = 'p'",
                [table],
            )
            by_tenant = [row[0] for row in cursor.fetchall()]
        if by_tenant:
            raise RuntimeError(
                f"{table}: {', '.join(by_tenant)} are partitioned by tenant; release every dedicated tenant "
                "(manage.py tenant_partition SLUG --release --execute) before migrating back"
            )
        rekey(schema_editor, f"id, {column}")

    return forward, backward
