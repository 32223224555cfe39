"""Converting a live table to a range-partitioned one: `manage.py partition_convert TABLE
--plan | --backfill | --verify | --swap | --rollback`.

1. `--backfill` creates the shadow `<table>_partitioned` (the parent's columns and defaults, range-partitioned
   by month on the time column, a default partition, the parent's non-unique indexes, forced RLS when the
   table has tenant_id) and a sync trigger on the parent: every write made during the backfill is copied to
   the shadow (a trigger, not a catch-up pass, so nothing written meanwhile is missed). Then it enqueues the
   backfill job (lifecycle.partition_backfill): id ranges of `batch` rows, a checkpoint after each, so a
   SIGKILL resumes at the last copied range. Rows copied twice are ignored (ON CONFLICT DO NOTHING).
2. `--verify` compares, per id range of `batch`, the row count and the sum of hashtext(row) of both tables,
   and names the ranges that differ.
3. `--swap` renames in one transaction under a lock_timeout: `<table>` → `<table>_old`, the shadow →
   `<table>`. The old table is kept in sync by the same trigger the other way and refuses every other write
   (a guard trigger), so it is read-only, and `--rollback` (the same swap backwards) loses nothing.

DDL runs on the owner alias (scripts/with-owner.sh); the backfill job copies through the system alias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections

from ballast.lib.rls import enable_rls_sql
from ballast.outbox.partitioned_tables import run_ddl

OWNER = "owner"
SYSTEM = "system"
SHADOW_SUFFIX = "_partitioned"
OLD_SUFFIX = "_old"
TIME_COLUMNS = ("created_at", "at", "occurred_at")
DEFAULT_BATCH = 20000
SYNC_FLAG = "ballast.lifecycle_sync"


class ConvertError(Exception):
    """The step cannot run now: the message says why and what to run first."""


@dataclass(frozen=True)
class Table:
    name: str
    column: str  # the time column the shadow is partitioned by
    key: str = "id"

    @property
    def shadow(self) -> str:
        return self.name + SHADOW_SUFFIX

    @property
    def old(self) -> str:
        return self.name + OLD_SUFFIX


def _cursor(using: str = SYSTEM) -> Any:
    return connections[using].cursor()


def _exists(name: str, using: str = SYSTEM) -> bool:
    with _cursor(using) as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{name}"])
        return bool(cursor.fetchone()[0])


def _is_partitioned(name: str, using: str = SYSTEM) -> bool:
    with _cursor(using) as cursor:
        cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", [f"public.{name}"])
        row = cursor.fetchone()
    return bool(row and row[0])


def _columns(name: str, using: str = SYSTEM) -> list[str]:
    with _cursor(using) as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [f"public.{name}"],
        )
        return [row[0] for row in cursor.fetchall()]


def table(name: str, column: str | None = None) -> Table:
    """The table to convert (its time column found when not given). ConvertError when it does not exist."""
    if not _exists(name):
        raise ConvertError(f"No table {name!r}")
    columns = _columns(name)
    chosen = column or next((c for c in TIME_COLUMNS if c in columns), None)
    if chosen is None or chosen not in columns:
        raise ConvertError(f"{name} has no time column {column or TIME_COLUMNS}: name one with --column")
    return Table(name=name, column=chosen)


def refuse_partitioned(spec: Table) -> None:
    """Only a plain table is converted (--plan, --backfill and --swap refuse a partitioned one)."""
    if not _is_partitioned(spec.name):
        return
    if _exists(spec.old):
        raise ConvertError(
            f"{spec.name} is partitioned already: it was swapped in ({spec.old} is the original, read-only); "
            "--verify it, or --rollback to go back"
        )
    raise ConvertError(f"{spec.name} is partitioned already: there is nothing to convert")


def check_swap(spec: Table) -> None:
    """ConvertError unless --swap can run now."""
    refuse_partitioned(spec)
    if not _exists(spec.shadow):
        raise ConvertError(f"No shadow {spec.shadow}: run --backfill and --verify first")


def check_rollback(spec: Table) -> None:
    """ConvertError unless --rollback can run now."""
    if not _exists(spec.old):
        raise ConvertError(f"No {spec.old}: nothing to roll back")


def _q(name: str) -> str:
    return connections[SYSTEM].ops.quote_name(name)


def plan(spec: Table) -> list[str]:
    """What the conversion would do. ConvertError for a table that is partitioned already."""
    refuse_partitioned(spec)
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), min({_q(spec.key)}), max({_q(spec.key)}), "  # noqa: S608
            f"min({_q(spec.column)}), max({_q(spec.column)}) FROM {_q(spec.name)}"
        )
        rows, low, high, first, last = cursor.fetchone()
    return [
        f"Convert {spec.name} to range partitions by month on {spec.column}:",
        f"  rows: {rows}; {spec.key} {low}..{high}; {spec.column} {first}..{last}",
        f"  shadow {spec.shadow} exists: {_exists(spec.shadow)}",
        f"  1. --backfill: create {spec.shadow} with monthly partitions and a default one, a sync trigger on "
        f"{spec.name}, then copy in id ranges as the job lifecycle.partition_backfill (checkpointed)",
        "  2. --verify: row counts and hashtext checksums per id range, differing ranges named",
        f"  3. --swap: {spec.name} -> {spec.old} (read-only, kept in sync), {spec.shadow} -> {spec.name}",
        f"  4. --rollback: {spec.name} -> {spec.shadow}, {spec.old} -> {spec.name}",
    ]


def _month_bounds(spec: Table) -> list[tuple[str, str, str]]:
    """[(partition name, from, to)] from the first row's month to three months past the last (or now)."""
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT to_char(m, 'YYYYMM'), m, m + interval '1 month' FROM generate_series("  # noqa: S608
            f"date_trunc('month', coalesce((SELECT min({_q(spec.column)}) FROM {_q(spec.name)}), now())), "
            f"date_trunc('month', greatest(coalesce((SELECT max({_q(spec.column)}) FROM {_q(spec.name)}), now()), "
            f"now())) + interval '3 months', interval '1 month') m"
        )
        return [(f"{spec.shadow}_p{label}", str(start), str(end)) for label, start, end in cursor.fetchall()]


def _indexes(spec: Table) -> list[str]:
    """The parent's non-unique indexes, rewritten for the shadow (unique ones need the partition column)."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = to_regclass(%s) AND NOT x.indisunique ORDER BY 1",
            [f"public.{spec.name}"],
        )
        found = cursor.fetchall()
    statements = []
    for index, definition in found:
        _, _, tail = definition.partition(" ON ")
        on = tail.replace(f"public.{spec.name} ", f"public.{spec.shadow} ", 1)
        statements.append(f"CREATE INDEX {_q(index[:50] + '_part')} ON {on}")
    return statements


def _sync_sql(source: str, target: str, key: str, column: str, columns: list[str]) -> list[str]:
    """A trigger on `source` that repeats each write on `target` (as the owner, in the writer's tenant)."""
    function = _q(f"{source}_sync_to_{target}"[:60])
    cols = ", ".join(_q(c) for c in columns)
    news = ", ".join(f"NEW.{_q(c)}" for c in columns)
    tenant = "tenant_id" in columns
    bind = (
        "PERFORM set_config('app.tenant_id', "
        "(CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END)::text, true);"
        if tenant
        else ""
    )
    restore = "PERFORM set_config('app.tenant_id', previous, true);" if tenant else ""
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE previous text := current_setting('app.tenant_id', true);
BEGIN
  PERFORM set_config('{SYNC_FLAG}', 'on', true);
  {bind}
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM {_q(target)} WHERE {_q(key)} = OLD.{_q(key)} AND {_q(column)} = OLD.{_q(column)};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO {_q(target)} ({cols}) VALUES ({news}) ON CONFLICT DO NOTHING;
  END IF;
  {restore}
  PERFORM set_config('{SYNC_FLAG}', '', true);
  RETURN NULL;
END $$""",  # noqa: S608 (identifiers from the catalog)
        f"DROP TRIGGER IF EXISTS lifecycle_sync ON {_q(source)}",
        f"CREATE TRIGGER lifecycle_sync AFTER INSERT OR UPDATE OR DELETE ON {_q(source)} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
    ]


def _guard_sql(name: str) -> list[str]:
    """Make `name` read-only for everyone but the sync trigger."""
    return [
        """CREATE OR REPLACE FUNCTION lifecycle_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('ballast.lifecycle_sync', true), '') <> 'on' THEN
    RAISE EXCEPTION 'table % is read-only (kept for partition_convert --rollback)', TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$""",
        f"DROP TRIGGER IF EXISTS lifecycle_read_only ON {_q(name)}",
        f"CREATE TRIGGER lifecycle_read_only BEFORE INSERT OR UPDATE OR DELETE ON {_q(name)} "
        "FOR EACH ROW EXECUTE FUNCTION lifecycle_read_only()",
    ]


def create_shadow(spec: Table) -> list[str]:
    """Create the shadow, its partitions, indexes, RLS and the sync trigger (owner alias). Safe to call twice."""
    refuse_partitioned(spec)
    if _exists(spec.shadow):
        return []
    columns = _columns(spec.name)
    statements = [
        f"CREATE TABLE {_q(spec.shadow)} (LIKE {_q(spec.name)} INCLUDING DEFAULTS INCLUDING IDENTITY) "
        f"PARTITION BY RANGE ({_q(spec.column)})",
        f"ALTER TABLE {_q(spec.shadow)} ADD PRIMARY KEY ({_q(spec.key)}, {_q(spec.column)})",
    ]
    names = []
    for partition, start, end in _month_bounds(spec):
        names.append(partition)
        statements.append(
            f"CREATE TABLE {_q(partition)} PARTITION OF {_q(spec.shadow)} FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    names.append(f"{spec.shadow}_default")
    statements.append(f"CREATE TABLE {_q(names[-1])} PARTITION OF {_q(spec.shadow)} DEFAULT")
    statements += _indexes(spec)
    if "tenant_id" in columns:
        for name in [spec.shadow, *names]:
            statements += enable_rls_sql(_q(name))
    statements += _sync_sql(spec.name, spec.shadow, spec.key, spec.column, columns)
    run_ddl(statements, using=OWNER)
    return names


def backfill(
    spec: Table,
    *,
    start_after: int | None,
    batch: int = DEFAULT_BATCH,
    save: Callable[[dict[str, Any]], None] = lambda state: None,
    copied: int = 0,
) -> dict[str, Any]:
    """Copy id ranges (start_after, start_after + batch] up to the max id at the start; `save` after each.
    Safe to repeat a range: rows already there are skipped."""
    if not _exists(spec.shadow):
        raise ConvertError(f"No shadow {spec.shadow}: run --backfill through the command first")
    columns = ", ".join(_q(c) for c in _columns(spec.name))
    with _cursor() as cursor:
        cursor.execute(f"SELECT min({_q(spec.key)}) - 1, max({_q(spec.key)}) FROM {_q(spec.name)}")  # noqa: S608
        low, high = cursor.fetchone()
    position = low if start_after is None else start_after
    state = {"table": spec.name, "last_id": position, "max_id": high, "copied": copied}
    while high is not None and position < high:
        upper = position + batch
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_q(spec.shadow)} ({columns}) SELECT {columns} FROM {_q(spec.name)} "  # noqa: S608
                f"WHERE {_q(spec.key)} > %s AND {_q(spec.key)} <= %s ON CONFLICT DO NOTHING",
                [position, upper],
            )
            state["copied"] += cursor.rowcount
        position = upper
        state["last_id"] = position
        save(dict(state))
    return state


@dataclass(frozen=True)
class RangeDifference:
    low: int
    high: int
    rows_old: int
    rows_new: int

    def __str__(self) -> str:
        return f"{self.low}..{self.high}: {self.rows_old} rows vs {self.rows_new}, checksums differ"


def verify(spec: Table, *, batch: int = DEFAULT_BATCH) -> list[RangeDifference]:
    """Per id range of `batch`: row count and sum(hashtext(row)) of the table and its shadow (or, after the
    swap, of the table and the old one). The ranges that differ; [] when they match."""
    new, old = (spec.shadow, spec.name) if _exists(spec.shadow) else (spec.name, spec.old)
    if not _exists(new) or not _exists(old):
        raise ConvertError(f"Nothing to compare: neither {spec.shadow} nor {spec.old} exists")
    columns = ", ".join(_q(c) for c in _columns(old))

    def digest(name: str) -> str:
        return (
            f"SELECT ({_q(spec.key)} - 1) / {int(batch)} AS bucket, count(*) AS n, "  # noqa: S608
            f"sum(hashtext(ROW({columns})::text)::bigint) AS h FROM {_q(name)} GROUP BY 1"
        )

    with _cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(o.bucket, n.bucket), coalesce(o.n, 0), coalesce(n.n, 0) "  # noqa: S608
            f"FROM ({digest(old)}) o FULL JOIN ({digest(new)}) n ON o.bucket = n.bucket "
            "WHERE o.n IS DISTINCT FROM n.n OR o.h IS DISTINCT FROM n.h ORDER BY 1"
        )
        rows = cursor.fetchall()
    return [
        RangeDifference(low=int(b) * batch + 1, high=(int(b) + 1) * batch, rows_old=int(a), rows_new=int(c))
        for b, a, c in rows
    ]


def _identity_restart(name: str, key: str) -> list[str]:
    """Identity columns continue past the highest id (the tables shared no sequence)."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT attidentity <> '' FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s",
            [f"public.{name}", key],
        )
        row = cursor.fetchone()
        if not (row and row[0]):
            return []
        cursor.execute(f"SELECT coalesce(max({_q(key)}), 0) + 1 FROM {_q(name)}")  # noqa: S608
        start = int(cursor.fetchone()[0])
    return [f"ALTER TABLE {_q(name)} ALTER COLUMN {_q(key)} RESTART WITH {start}"]


def swap(spec: Table) -> None:
    """In one transaction (lock_timeout, retried): the shadow becomes the table; the old one stays read-only
    and in sync, for --rollback."""
    check_swap(spec)
    columns = _columns(spec.name)
    statements = [
        f"LOCK TABLE {_q(spec.name)}, {_q(spec.shadow)} IN ACCESS EXCLUSIVE MODE",
        f"DROP TRIGGER IF EXISTS lifecycle_sync ON {_q(spec.name)}",
        f"ALTER TABLE {_q(spec.name)} RENAME TO {_q(spec.old)}",
        f"ALTER TABLE {_q(spec.shadow)} RENAME TO {_q(spec.name)}",
        *_guard_sql(spec.old),
        *_sync_sql(spec.name, spec.old, spec.key, spec.column, columns),
    ]
    run_ddl(_restarting(statements, spec.shadow, spec.name, spec.key), using=OWNER)
    _regrant()


def rollback(spec: Table) -> None:
    """The swap backwards: the old table is the table again (it missed nothing: the sync trigger), the
    partitioned one goes back to being the shadow, kept in sync until dropped."""
    check_rollback(spec)
    columns = _columns(spec.old)
    statements = [
        f"LOCK TABLE {_q(spec.name)}, {_q(spec.old)} IN ACCESS EXCLUSIVE MODE",
        f"DROP TRIGGER IF EXISTS lifecycle_sync ON {_q(spec.name)}",
        f"DROP TRIGGER IF EXISTS lifecycle_read_only ON {_q(spec.old)}",
        f"ALTER TABLE {_q(spec.name)} RENAME TO {_q(spec.shadow)}",
        f"ALTER TABLE {_q(spec.old)} RENAME TO {_q(spec.name)}",
        *_sync_sql(spec.name, spec.shadow, spec.key, spec.column, columns),
    ]
    run_ddl(_restarting(statements, spec.old, spec.name, spec.key), using=OWNER)
    _regrant()


def _restarting(statements: list[str], before_rename: str, after_rename: str, key: str) -> list[str]:
    """Append the identity restart of the table that takes the name (read now, under its current name)."""
    restart = _identity_restart(before_rename, key)
    return [s for s in statements if "RESTART WITH" not in s] + [
        s.replace(_q(before_rename), _q(after_rename)) for s in restart
    ]


def _regrant() -> None:
    """The runtime roles' rights follow the table names (tenants/db_roles.py): re-apply them."""
    from ballast.tenants.db_roles import grant_runtime_privileges

    grant_runtime_privileges(using=OWNER)


def start_backfill(spec: Table, *, batch: int = DEFAULT_BATCH) -> int:
    """Create the shadow (owner) and enqueue the backfill job under the operators' tenant; returns its id."""
    from django.conf import settings
    from django.db import transaction

    from ballast.jobs.services import enqueue
    from ballast.tenants.context import tenant_scope
    from ballast.tenants.models import Tenant

    slug = settings.LIFECYCLE_MAINTENANCE_TENANT
    tenant = Tenant.objects.using(SYSTEM).filter(slug=slug).first()
    if tenant is None:
        raise ConvertError(f"No tenant {slug!r} (LIFECYCLE_MAINTENANCE_TENANT): create it with tenant_create")
    create_shadow(spec)
    with transaction.atomic(using="default"), tenant_scope(tenant.pk):
        job = enqueue(
            tenant=tenant.pk,
            job_type="lifecycle.partition_backfill",
            payload={"table": spec.name, "column": spec.column, "batch": batch},
        )
    return int(job.pk)
