"""Tenants with partitions of their own: tenant_partition moves a tenant into leaves of its own and back, writes
made while a period is rebuilt are kept, maintenance and retention know the shape, partition health checks it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from ballast.jobs.services import enqueue
from ballast.lib.partitioned_tables import by_table, per_tenant_tables
from ballast.lib.partitioning import RangePartitioned
from ballast.lifecycle import dedicated_tenants
from ballast.lifecycle.health import check_health
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.lifecycle.models import DedicatedTenant
from ballast.lifecycle.retention import apply_retention
from ballast.tenants.audit import record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant
from ballast.tenants.tests.factories import TenantFactory

SYSTEM = "system"
AUDIT = by_table("tenants_auditentry")


def sql(statement: str, params: Any = None, *, alias: str = SYSTEM) -> list[tuple[Any, ...]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def rows_per_tenant() -> dict[tuple[str, int], int]:
    """(table, tenant) -> rows, in every per-tenant table."""
    counts = {}
    for table in per_tenant_tables():
        for tenant_id, count in sql(f"SELECT tenant_id, count(*) FROM {table.table} GROUP BY 1"):  # noqa: S608
            counts[(table.table, tenant_id)] = count
    return counts


def current_period(table: str) -> str:
    spec = by_table(table).spec
    return spec.partition_name(spec.period_start(timezone.now().date()))


def leaf_rows(leaf: str) -> list[tuple[Any, ...]]:
    return sql(f"SELECT DISTINCT tenant_id FROM {leaf}")  # noqa: S608


def seed(tenant: Tenant, rows: int = 3) -> None:
    for n in range(rows):
        record(tenant_id=tenant.pk, actor="t", action="tenant.renamed", target_type="tenant", target_id=n, using=SYSTEM)
    with tenant_scope(tenant.pk):
        enqueue(tenant=tenant.pk, job_type="diagnostics.echo", payload={"value": 1})  # a job.created event


@pytest.fixture
def three(committed: None) -> Iterator[tuple[Tenant, Tenant, Tenant]]:
    tenants = tuple(TenantFactory.create(slug=slug) for slug in ("acme", "globex", "initech"))
    for tenant in tenants:
        seed(tenant)
    yield tenants  # type: ignore[misc]
    # Periods back to plain ones: the test database outlives the test, and tenant ids are reused.
    dedicated_tenants.reshape_all(tenant_id=0, execute=True, wanted=set())


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("tenant_partition", *args, stdout=out)
    return out.getvalue()


def test_the_dry_run_prints_each_period_and_its_rows_and_changes_nothing(three: tuple[Tenant, ...]) -> None:
    _, globex, _ = three
    before = rows_per_tenant()
    out = run("globex")
    audit = before[("tenants_auditentry", globex.pk)]
    assert audit >= 3
    assert f"tenants_auditentry {current_period('tenants_auditentry')}: {audit} rows of the tenant" in out
    assert "rebuild" in out and "Dry run" in out
    assert rows_per_tenant() == before
    assert not DedicatedTenant.objects.using(SYSTEM).exists()
    assert dedicated_tenants.leaf_tenants(current_period("tenants_auditentry")) == set()


def test_a_dedicated_tenants_rows_move_to_leaves_of_its_own_and_nothing_else_changes(
    three: tuple[Tenant, ...],
) -> None:
    acme, globex, initech = three
    before = rows_per_tenant()

    out = run("globex", "--execute")

    assert "rebuilt" in out
    audit = ("tenants_auditentry", globex.pk)
    assert rows_per_tenant() == {**before, audit: before[audit] + 1}  # +1: its dedication, audited
    for table in per_tenant_tables():
        for period in table.spec.partitions():
            assert dedicated_tenants.leaf_tenants(period.name) == {globex.pk}, period.name
    audit_period = current_period("tenants_auditentry")
    own = RangePartitioned.leaf_name(audit_period, globex.pk)
    assert leaf_rows(own) == [(globex.pk,)]
    assert sorted(leaf_rows(RangePartitioned.leaf_default_name(audit_period))) == [(acme.pk,), (initech.pk,)]
    [entry] = AuditEntry.objects.unscoped(SYSTEM).filter(action="tenant.partitions_dedicated")
    assert entry.tenant_id == globex.pk and entry.actor.startswith("cli:")
    report = check_health()  # forced RLS and the parent's indexes on every period and leaf; no default finding
    assert report.healthy, report.findings
    # The app role still reads and writes only its own rows through the parent.
    with tenant_scope(globex.pk):
        record(tenant_id=globex.pk, actor="t", action="tenant.renamed", target_type="tenant", target_id=9)
        assert AuditEntry.objects.count() == before[audit] + 2
    assert sql(f"SELECT count(*) FROM {own}")[0][0] == before[audit] + 2  # noqa: S608
    assert "Done: 0 periods rebuilt" in run("globex", "--execute")  # safe to rerun: every period is in shape


def attempt(tenant: Tenant, job_id: int, worker: str) -> None:
    sql(
        "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, error, traceback) "
        "VALUES (%s, %s, 1, %s, now(), 'lost', '', '')",
        [tenant.pk, job_id, worker],
    )


def test_writes_made_while_a_period_is_copied_are_kept(three: tuple[Tenant, ...], monkeypatch: Any) -> None:
    acme, globex, _ = three
    period = current_period("jobs_jobattempt")
    for n in range(5):
        attempt(acme, n, "old")
        attempt(globex, n, "old")
    real_copy = dedicated_tenants._copy
    expected: dict[str, Any] = {}

    def copy_with_writers(spec: RangePartitioned, name: str, batch: int) -> int:
        if name != period:
            return real_copy(spec, name, batch)
        # The sync trigger is in place: inserts, updates and deletes before and after the copy must all arrive.
        attempt(acme, 100, "before")
        sql("UPDATE jobs_jobattempt SET worker = 'updated' WHERE tenant_id = %s AND job_id = 1", [globex.pk])
        sql("DELETE FROM jobs_jobattempt WHERE tenant_id = %s AND job_id = 2", [acme.pk])
        copied = real_copy(spec, name, 2)
        attempt(globex, 101, "after")
        sql("UPDATE jobs_jobattempt SET outcome = 'failed' WHERE tenant_id = %s AND job_id = 3", [acme.pk])
        sql("DELETE FROM jobs_jobattempt WHERE tenant_id = %s AND job_id = 4", [globex.pk])
        expected["rows"] = sql(f"SELECT id, tenant_id, job_id, worker, outcome FROM {name} ORDER BY id")  # noqa: S608
        return copied

    monkeypatch.setattr(dedicated_tenants, "_copy", copy_with_writers)
    run("globex", "--execute")

    after = sql(f"SELECT id, tenant_id, job_id, worker, outcome FROM {period} ORDER BY id")  # noqa: S608
    assert after == expected["rows"] and len(after) == 10
    assert {(row[2], row[3]) for row in after if row[1] == globex.pk} >= {(1, "updated"), (101, "after")}
    assert (3, "old", "failed") in {(row[2], row[3], row[4]) for row in after if row[1] == acme.pk}


def test_release_merges_the_tenant_back_into_the_shared_leaves(three: tuple[Tenant, ...]) -> None:
    _, globex, _ = three
    run("globex", "--execute")
    before = rows_per_tenant()

    out = run("globex", "--release", "--execute")

    assert "rebuilt" in out
    assert rows_per_tenant() == {
        **before,
        ("tenants_auditentry", globex.pk): before[("tenants_auditentry", globex.pk)] + 1,  # its release, audited
    }
    assert not DedicatedTenant.objects.using(SYSTEM).exists()
    for table in per_tenant_tables():
        assert all(dedicated_tenants.leaf_tenants(p.name) == set() for p in table.spec.partitions())
    assert AuditEntry.objects.unscoped(SYSTEM).filter(action="tenant.partitions_released").count() == 1
    assert check_health().healthy


def test_an_unknown_slug_is_refused(committed: None) -> None:
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        run("nobody")


def test_maintenance_creates_future_periods_with_a_leaf_per_dedicated_tenant_and_retention_drops_them_whole(
    three: tuple[Tenant, ...], settings: Any
) -> None:
    _, globex, _ = three
    run("globex", "--execute")
    before = {table.table: set(table.spec.partition_names()) for table in per_tenant_tables()}
    settings.LIFECYCLE_PARTITIONS_AHEAD = 4
    spec = AUDIT.spec
    furthest = spec.partition_name(spec.add_periods(spec.period_start(date.today()), 4))
    ensure_all_partitions()
    assert dedicated_tenants.leaf_tenants(furthest) == {globex.pk}
    assert check_health().healthy

    spec.ensure(ahead=0, today=date(2015, 3, 1), tenants=[globex.pk])
    sql(
        "INSERT INTO tenants_auditentry (tenant_id, actor, action, target_type, target_id, trace_id, data, at) "
        "VALUES (%s, 'x', 'x', 'x', 'x', '', '{}', '2015-03-02')",
        [globex.pk],
    )
    assert apply_retention().dropped == ["tenants_auditentry_p201503"]
    assert sql(f"SELECT to_regclass('tenants_auditentry_p201503_t{globex.pk}')") == [(None,)]
    for table in per_tenant_tables():  # the months made ahead for this test, and only those
        for name in set(table.spec.partition_names()) - before[table.table]:
            sql(f"DROP TABLE IF EXISTS {name}", alias="owner")


def test_partition_health_checks_every_leaf(three: tuple[Tenant, ...]) -> None:
    _, globex, _ = three
    run("globex", "--execute")
    period = current_period("jobs_jobattempt")
    leaf = RangePartitioned.leaf_name(period, globex.pk)
    sql(f"ALTER TABLE {leaf} NO FORCE ROW LEVEL SECURITY", alias="owner")
    sql(f"CREATE INDEX planted_leafless ON ONLY {period} (worker)", alias="owner")  # on no leaf
    try:
        kinds = {(f.kind, f.partition) for f in check_health().findings}
    finally:
        sql("DROP INDEX planted_leafless", alias="owner")
        sql(f"ALTER TABLE {leaf} FORCE ROW LEVEL SECURITY", alias="owner")
    assert ("rls_not_forced", leaf) in kinds
    assert ("missing_index", leaf) in kinds
    assert not any(kind == "rows_in_default" for kind, _ in kinds)  # the shared leaves hold rows, as meant
