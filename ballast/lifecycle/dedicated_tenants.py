"""Partitions of one tenant's own: an isolation tier for large or noisy tenants, and a purge by DROP.

A dedicated tenant (`manage.py tenant_partition SLUG --execute`: a DedicatedTenant row, audited) has a leaf of
its own in every period of every per-tenant table (ballast.lib.partitioned_tables, `per_tenant=True`): such a period is
`PARTITION BY LIST (tenant_id)` with one leaf per dedicated tenant and a DEFAULT leaf for everyone else
(ballast.lib.partitioning names them). Maintenance creates future periods in that shape; `reshape` rebuilds an
existing period into the shape the dedicated tenants call for:

1. build `<period>__new`, empty, in that shape: the parent's columns, checks, keys, indexes and foreign keys, a
   CHECK of the period's range (so the attach in 4 does not scan it), forced RLS on it and every leaf;
2. a sync trigger on the period repeats every later insert, update and delete on the copy;
3. copy the period's rows in id ranges (system role, ON CONFLICT DO NOTHING: a rerun is harmless);
4. swap in one short transaction through run_ddl (lock_timeout, retries): detach the period, attach the copy
   under its name. Writers of the table wait only for this (docs/benchmarks.md, Retention);
5. drop the old period (its own transaction).

Each step is safe to rerun: a period already in shape is skipped and a crashed run's leftovers are dropped.
DDL runs as the owner; rows are read and copied as the system role (forced RLS hides them from the owner); the
catalogue is read as the owner, or as the system role where there is no owner (a dry run).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connections, transaction

from ballast.lib.owner_role import catalogue_alias, owner_configured, owner_hint
from ballast.lib.partitioned_tables import HighVolumeTable, per_tenant_tables
from ballast.lib.partitioning import (
    Partition,
    RangePartitioned,
    child_names,
    constraint_definitions,
    index_definitions,
    run_ddl,
)
from ballast.lib.rls import enable_rls_sql
from ballast.tenants.audit import record
from ballast.tenants.models import Tenant

OWNER = "owner"
SYSTEM = "system"
COPY_BATCH = 50_000
NEW, OLD, SYNC = "__new", "__old", "__sync"
_BOUNDS = re.compile(r"FOR VALUES FROM \((.+)\) TO \((.+)\)")


class NoDedicatedPartitions(RuntimeError):
    """The tenant has no partitions of its own: purge with --mode delete, or run tenant_partition first."""


class PartitioningRefused(RuntimeError):
    """tenant_partition cannot run: the message says why and what to do."""


@dataclass(frozen=True)
class PeriodMove:
    table: str
    partition: str
    tenant_rows: int  # the tenant's rows in the period (what moves to or from its leaf)
    rows: int  # every row of the period (what the rebuild copies)
    action: str  # "rebuild" (dry run), "rebuilt", or "in shape"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# Reads.


def dedicated_tenant_ids() -> list[int]:
    from ballast.lifecycle.models import DedicatedTenant

    return sorted(DedicatedTenant.objects.using(SYSTEM).values_list("tenant_id", flat=True))


def _fetch(sql: str, params: Sequence[Any] = (), *, using: str | None = None) -> list[tuple[Any, ...]]:
    """Rows of `sql` (default alias: the catalogue's, ballast.lib.owner_role.catalogue_alias)."""
    with connections[using or catalogue_alias()].cursor() as cursor:
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


def _children(name: str) -> list[str]:
    with connections[catalogue_alias()].cursor() as cursor:
        return child_names(cursor, name)


def leaf_tenants(period: str) -> set[int]:
    """The tenants with a leaf of their own in `period` (none for a period not partitioned by tenant)."""
    pattern = re.compile(rf"^{re.escape(period)}_t(\d+)$")
    return {int(m.group(1)) for m in (pattern.match(name) for name in _children(period)) if m}


def _counts(period: str, tenant_id: int) -> tuple[int, int]:
    [(tenant_rows, rows)] = _fetch(
        f"SELECT count(*) FILTER (WHERE tenant_id = %s), count(*) FROM {period}",  # noqa: S608 (catalogue name)
        [tenant_id],
        using=SYSTEM,
    )
    return int(str(tenant_rows)), int(str(rows))


def tenant_partitions(tenant_id: int, *, tables: Iterable[str] | None = None) -> list[str]:
    """The leaves that hold only this tenant's rows (in `tables`, default every per-tenant table).
    NoDedicatedPartitions when the tenant is not dedicated."""
    if tenant_id not in dedicated_tenant_ids():
        raise NoDedicatedPartitions(
            f"Tenant {tenant_id} has no partitions of its own: give it some with `manage.py tenant_partition "
            "SLUG --execute`, or purge with --mode delete"
        )
    return [leaf for _table, _period, leaf in _leaves(tenant_id, tables)]


def _leaves(tenant_id: int, tables: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    """(table, period, leaf) of every attached leaf of the tenant."""
    wanted = None if tables is None else set(tables)
    found = []
    for table in per_tenant_tables():
        if wanted is not None and table.table not in wanted:
            continue
        for period in table.spec.partitions(catalogue_alias()):
            leaf = RangePartitioned.leaf_name(period.name, tenant_id)
            if tenant_id in leaf_tenants(period.name):
                found.append((table.table, period.name, leaf))
    return found


def _detached_leaves(tenant_id: int, tables: Iterable[str]) -> list[str]:
    """Leaves of the tenant a purge detached but did not drop (it died in between)."""
    names = []
    for table in tables:
        pattern = re.compile(rf"^{re.escape(table)}_p\d+_t{int(tenant_id)}$")
        rows = _fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' "
            "AND NOT relispartition AND relname LIKE %s",
            [f"{table}_p%_t{int(tenant_id)}"],
        )
        names += [str(row[0]) for row in rows if pattern.match(str(row[0]))]
    return names


# The catalogue of the parent, to build a copy that attaches without a scan or an index build.


def _constraints(table: str, kinds: str) -> list[str]:
    with connections[catalogue_alias()].cursor() as cursor:
        return [definition for _name, definition in constraint_definitions(cursor, table, kinds)]


def _indexes(table: str) -> list[str]:
    with connections[catalogue_alias()].cursor() as cursor:
        return index_definitions(cursor, table)


def _columns(table: str) -> list[str]:
    rows = _fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [table],
    )
    return [str(row[0]) for row in rows]


def _primary_key(table: str) -> list[str]:
    rows = _fetch(
        "SELECT a.attname FROM pg_constraint c CROSS JOIN unnest(c.conkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.conrelid = %s::regclass AND c.contype = 'p' ORDER BY k.n",
        [table],
    )
    return [str(row[0]) for row in rows]


def _bounds(period: str) -> tuple[str, str]:
    """The period's range bounds as Postgres prints them (the same instants, whatever the session's zone)."""
    [(bound,)] = _fetch("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s", [period])
    match = _BOUNDS.match(str(bound))
    if match is None:
        raise PartitioningRefused(f"{period} is not a range partition ({bound})")
    return match.group(1), match.group(2)


def _grants(table: str) -> dict[str, set[str]]:
    rows = _fetch(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
        "WHERE table_schema = current_schema() AND table_name = %s AND grantee <> current_user",
        [table],
    )
    grants: dict[str, set[str]] = {}
    for grantee, privilege in rows:
        grants.setdefault(str(grantee), set()).add(str(privilege))
    return grants


def refuse_keys_without_tenant(table: HighVolumeTable) -> None:
    """A period can be partitioned by tenant only if every unique key of the table holds tenant_id."""
    for definition in _constraints(table.table, "pu"):
        if "tenant_id" not in definition:
            raise PartitioningRefused(
                f"{table.table}: {definition} lacks tenant_id, so its periods cannot be partitioned by tenant: "
                "add tenant_id to the key (a migration, as jobs 0007) before marking the table per_tenant"
            )


# Rebuilding one period.


def _build_sql(spec: RangePartitioned, period: str, tenants: set[int], low: str, high: str) -> list[str]:
    new = period + NEW
    by_tenant = " PARTITION BY LIST (tenant_id)" if tenants else ""
    statements = [f"CREATE TABLE {new} (LIKE {spec.table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){by_tenant}"]
    if tenants:
        statements += spec.leaves_sql(period, sorted(tenants), suffix=NEW)
    elif spec.storage:
        statements.append(f"ALTER TABLE {new} SET ({spec.storage})")
    statements.append(
        f"ALTER TABLE {new} ADD CONSTRAINT {new}_range CHECK ({spec.column} >= {low} AND {spec.column} < {high})"
    )
    statements += [f"ALTER TABLE {new} ADD {definition}" for definition in _constraints(spec.table, "pu")]
    statements += [
        re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ", rf"CREATE \1INDEX ON {new} ", definition)
        for definition in _indexes(spec.table)
    ]
    statements += [f"ALTER TABLE {new} ADD {definition}" for definition in _constraints(spec.table, "f")]
    statements += enable_rls_sql(new)
    for grantee, privileges in _extra_grants(spec.table, period).items():
        statements.append(f'GRANT {", ".join(sorted(privileges))} ON {new} TO "{grantee}"')
    return statements


def _extra_grants(table: str, period: str) -> dict[str, set[str]]:
    """What roles may do on the parent but not on the period: the sync trigger writes the copy as the writer."""
    on_period = _grants(period)
    return {
        grantee: privileges - on_period.get(grantee, set())
        for grantee, privileges in _grants(table).items()
        if privileges - on_period.get(grantee, set())
    }


def _sync_sql(spec: RangePartitioned, period: str) -> list[str]:
    """A trigger that repeats each write on the copy, as the writer (who needs no more rights on the copy than
    on the parent: an insert never updates; an update, possible only where the writer may update, upserts)."""
    new, function = period + NEW, period + SYNC
    columns, key = _columns(spec.table), _primary_key(spec.table)
    values = ", ".join(f"NEW.{c}" for c in columns)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    old_row = " AND ".join(f"{c} = OLD.{c}" for c in key)
    moved = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in key)
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ({moved})) THEN
    DELETE FROM {new} WHERE {old_row};
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {new} ({", ".join(columns)}) VALUES ({values}) ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO {new} ({", ".join(columns)}) VALUES ({values})
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets};
  END IF;
  RETURN NULL;
END $$""",  # noqa: S608 (names from the catalogue)
        f"CREATE TRIGGER {function} AFTER INSERT OR UPDATE OR DELETE ON {period} FOR EACH ROW "
        f"EXECUTE FUNCTION {function}()",
    ]


def _copy(spec: RangePartitioned, period: str, batch: int) -> int:
    """Copy the period's rows into its rebuild in id ranges, one transaction each; rows already there stay."""
    columns = ", ".join(_columns(spec.table))
    [(low, high)] = _fetch(f"SELECT min(id), max(id) FROM {period}", using=SYSTEM)  # noqa: S608 (catalogue name)
    if low is None or high is None:
        return 0
    copied = 0
    start = int(str(low)) - 1
    while start < int(str(high)):
        with transaction.atomic(using=SYSTEM), connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {period}{NEW} ({columns}) SELECT {columns} FROM {period} "  # noqa: S608 (names from code)
                "WHERE id > %s AND id <= %s ON CONFLICT DO NOTHING",
                [start, start + batch],
            )
            copied += max(cursor.rowcount, 0)
        start += batch
    return copied


def _swap_sql(spec: RangePartitioned, period: str, tenants: set[int], low: str, high: str) -> list[str]:
    new, function = period + NEW, period + SYNC
    statements = [
        f"ALTER TABLE {spec.table} DETACH PARTITION {period}",
        f"DROP TRIGGER IF EXISTS {function} ON {period}",
        f"DROP FUNCTION IF EXISTS {function}()",
        f"ALTER TABLE {period} RENAME TO {period}{OLD}",
    ]
    statements += [f"ALTER TABLE {leaf} RENAME TO {leaf}{OLD}" for leaf in _children(period)]
    statements.append(f"ALTER TABLE {new} RENAME TO {period}")
    if tenants:
        leaves = [RangePartitioned.leaf_name(period, t) for t in sorted(tenants)]
        leaves.append(RangePartitioned.leaf_default_name(period))
        statements += [f"ALTER TABLE {leaf}{NEW} RENAME TO {leaf}" for leaf in leaves]
    statements += [
        f"ALTER TABLE {spec.table} ATTACH PARTITION {period} FOR VALUES FROM ({low}) TO ({high})",
        f"ALTER TABLE {period} DROP CONSTRAINT {new}_range",
    ]
    for grantee, privileges in _extra_grants(spec.table, period).items():
        statements.append(f'REVOKE {", ".join(sorted(privileges))} ON {period} FROM "{grantee}"')
    return statements


def _clean_leftovers(period: str) -> None:
    """What a run that died part-way left: the trigger, its function, the copy, the old period."""
    leftovers = [
        f"DROP TRIGGER IF EXISTS {period}{SYNC} ON {period}",
        f"DROP FUNCTION IF EXISTS {period}{SYNC}()",
        f"DROP TABLE IF EXISTS {period}{NEW}",
        f"DROP TABLE IF EXISTS {period}{OLD}",
    ]
    [(trigger, function, copy, old)] = _fetch(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = %s), to_regprocedure(%s) IS NOT NULL, "
        "to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        [period + SYNC, f"{period}{SYNC}()", period + NEW, period + OLD],
    )
    wanted = [
        statement for statement, present in zip(leftovers, (trigger, function, copy, old), strict=True) if present
    ]
    if wanted:
        run_ddl(wanted, using=OWNER)


def reshape(spec: RangePartitioned, period: Partition, tenants: set[int], *, batch: int = COPY_BATCH) -> int:
    """Rebuild `period` with a leaf for each tenant in `tenants` (a plain period if none); the rows copied."""
    _clean_leftovers(period.name)
    low, high = _bounds(period.name)
    run_ddl(_build_sql(spec, period.name, tenants, low, high), using=OWNER)
    run_ddl(_sync_sql(spec, period.name), using=OWNER)
    copied = _copy(spec, period.name, batch)
    run_ddl(_swap_sql(spec, period.name, tenants, low, high), using=OWNER)
    run_ddl([f"DROP TABLE IF EXISTS {period.name}{OLD}"], using=OWNER)
    return copied


def reshape_all(
    *,
    tenant_id: int,
    execute: bool,
    wanted: set[int] | None = None,
    batch: int = COPY_BATCH,
    on_period: Callable[[PeriodMove], None] | None = None,
) -> list[PeriodMove]:
    """Bring every period of every per-tenant table to the shape `wanted` (default: the dedicated tenants)
    calls for; only say what would change when not `execute`. Counts are of `tenant_id`'s rows."""
    wanted = set(dedicated_tenant_ids()) if wanted is None else wanted
    moves = []
    for table in per_tenant_tables():
        if wanted:
            refuse_keys_without_tenant(table)
        for period in table.spec.partitions(catalogue_alias()):
            tenant_rows, rows = _counts(period.name, tenant_id)
            action = "in shape"
            if leaf_tenants(period.name) != wanted:
                action = "rebuild"
                if execute:
                    reshape(table.spec, period, wanted, batch=batch)
                    action = "rebuilt"
            move = PeriodMove(table.table, period.name, tenant_rows, rows, action)
            moves.append(move)
            if on_period is not None:
                on_period(move)
    return moves


# Services: dedicate, release, drop a tenant's leaves.


def refusals(*, command_line: str) -> list[str]:
    """Why an --execute would be refused here (`command_line`: how to run it instead)."""
    return [] if owner_configured() else [f"partition DDL {owner_hint(command_line)}"]


def _require_owner() -> None:
    if not owner_configured():
        raise PartitioningRefused(
            "Partition DDL needs the schema owner's connection (POSTGRES_OWNER_DSN): run it through "
            "scripts/with-owner.sh"
        )


def _set_dedicated(
    tenant: Tenant, *, dedicated: bool, actor: str, execute: bool, batch: int,
    on_period: Callable[[PeriodMove], None] | None,
) -> list[PeriodMove]:  # fmt: skip
    """Record the tenant as dedicated (or not; audited when that changes), then bring every period to the shape
    the dedicated tenants call for. Only says what would move when not `execute`. Safe to rerun."""
    from ballast.lifecycle.models import DedicatedTenant

    others = set(dedicated_tenant_ids()) - {tenant.pk}
    wanted = others | {tenant.pk} if dedicated else others
    if not execute:
        return reshape_all(tenant_id=tenant.pk, execute=False, wanted=wanted, on_period=on_period)
    _require_owner()
    if dedicated:
        for table in per_tenant_tables():
            refuse_keys_without_tenant(table)
    records = DedicatedTenant.objects.using(SYSTEM)
    with transaction.atomic(using=SYSTEM):
        if dedicated:
            changed = records.get_or_create(tenant_id=tenant.pk, defaults={"actor": actor})[1]
        else:
            changed = bool(records.filter(tenant_id=tenant.pk).delete()[0])
        if changed:
            record(
                tenant_id=tenant.pk, actor=actor, target_type="tenant", target_id=tenant.pk,
                action="tenant.partitions_dedicated" if dedicated else "tenant.partitions_released",
                data={"slug": tenant.slug}, using=SYSTEM,
            )  # fmt: skip
    return reshape_all(tenant_id=tenant.pk, execute=True, batch=batch, on_period=on_period)


def dedicate(
    *, tenant: Tenant, actor: str, execute: bool, batch: int = COPY_BATCH,
    on_period: Callable[[PeriodMove], None] | None = None,
) -> list[PeriodMove]:  # fmt: skip
    """Give the tenant a leaf of its own in every period of every per-tenant table, its rows moved there."""
    return _set_dedicated(tenant, dedicated=True, actor=actor, execute=execute, batch=batch, on_period=on_period)


def release(
    *, tenant: Tenant, actor: str, execute: bool, batch: int = COPY_BATCH,
    on_period: Callable[[PeriodMove], None] | None = None,
) -> list[PeriodMove]:  # fmt: skip
    """The way back: the tenant's rows return to the default leaves and it gets no leaves any more."""
    return _set_dedicated(tenant, dedicated=False, actor=actor, execute=execute, batch=batch, on_period=on_period)


def drop_tenant_partitions(
    tenant_id: int,
    *,
    tables: Iterable[str] | None = None,
    keep: Callable[[str], str | None] = lambda table: None,
    on_drop: Callable[[str], None] = lambda leaf: None,
) -> list[str]:
    """Detach and drop the tenant's leaves (in `tables`, default all), each in two short transactions like
    retention. Rows matching `keep(table)` (SQL, e.g. the purge's own job) are first put back through the parent
    (into the default leaf). A leaf a crash left detached is dropped too. The leaves dropped."""
    _require_owner()
    names = [t.table for t in per_tenant_tables()] if tables is None else list(tables)
    dropped = []
    for table, period, leaf in _leaves(tenant_id, names):
        statements = [
            f"SELECT set_config('app.tenant_id', '{int(tenant_id)}', true)",  # the owner sees the tenant's rows
            f"ALTER TABLE {period} DETACH PARTITION {leaf}",
        ]
        kept = keep(table)
        if kept:
            statements.append(
                f"INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM {leaf} WHERE {kept}"  # noqa: S608
            )
        run_ddl(statements, using=OWNER)
        run_ddl([f"DROP TABLE IF EXISTS {leaf}"], using=OWNER)
        dropped.append(leaf)
        on_drop(leaf)
    for leaf in _detached_leaves(tenant_id, names):
        run_ddl([f"DROP TABLE IF EXISTS {leaf}"], using=OWNER)
        dropped.append(leaf)
        on_drop(leaf)
    return dropped


def forget_if_unused(tenant_id: int) -> bool:
    """After a purge by partition: a tenant with no leaf left in any table is no longer dedicated (future
    periods get no leaf for it). Whether it was forgotten; the purge's audit entry says so."""
    from ballast.lifecycle.models import DedicatedTenant

    if _leaves(tenant_id):
        return False
    deleted, _ = DedicatedTenant.objects.using(SYSTEM).filter(tenant_id=tenant_id).delete()
    return bool(deleted)
