"""Maintenance commands check before their first write: without the owner's connection (a process not started
through scripts/with-owner.sh) they refuse in one line that says how to run them, and their dry runs work and
report what the real run would refuse."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from ballast.lib.partitioned_tables import by_table
from ballast.lifecycle.models import DedicatedTenant
from ballast.lifecycle.tests.conftest import owner_sql
from ballast.tenants.models import Tenant

WITH_OWNER = "run it as scripts/with-owner.sh .venv/bin/python manage.py"
AUDIT = by_table("tenants_auditentry")
PLAIN = "lifecycle_precondition_sample"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_audit_month(committed: None, planted: list[str]) -> str:
    """A month of the audit log past retention."""
    AUDIT.spec.ensure(ahead=0, today=date(2016, 2, 1))
    planted.append("DROP TABLE IF EXISTS tenants_auditentry_p201602")
    return "tenants_auditentry_p201602"


def test_retention_without_the_owner_refuses_in_one_line_and_its_dry_run_says_so(
    old_audit_month: str, without_owner: None
) -> None:
    with pytest.raises(CommandError) as refused:
        run("retention")
    dry = run("retention", "--dry-run")

    assert (
        str(refused.value)
        == f"retention needs the schema owner's connection (POSTGRES_OWNER_DSN): {WITH_OWNER} retention"
    )
    assert f"drop  {old_audit_month}" in dry
    assert "The real run would refuse: retention needs the schema owner's connection" in dry
    assert old_audit_month in AUDIT.spec.partition_names("system")  # nothing was dropped


def test_retention_with_the_owner_reports_no_refusal(old_audit_month: str) -> None:
    dry = run("retention", "--dry-run")

    assert f"drop  {old_audit_month}" in dry and "would refuse" not in dry


@pytest.fixture
def acme(tenant: Tenant) -> Iterator[Tenant]:
    yield tenant
    from ballast.lifecycle import dedicated_tenants

    dedicated_tenants.reshape_all(tenant_id=0, execute=True, wanted=set())  # the test database outlives the test


def test_tenant_partition_without_the_owner_plans_and_refuses_to_execute(acme: Tenant, without_owner: None) -> None:
    dry = run("tenant_partition", "acme")
    with pytest.raises(CommandError) as refused:
        run("tenant_partition", "acme", "--execute")

    assert "jobs_jobattempt" in dry and "Dry run: nothing was changed" in dry
    assert "The real run would refuse: partition DDL needs the schema owner's connection" in dry
    assert str(refused.value).endswith(f"{WITH_OWNER} tenant_partition acme --execute")
    assert "\n" not in str(refused.value)
    assert not DedicatedTenant.objects.using("system").exists()


@pytest.fixture
def plain_table(committed: None) -> Iterator[str]:
    owner_sql(
        f"DROP TABLE IF EXISTS {PLAIN}, {PLAIN}_partitioned, {PLAIN}_old CASCADE",
        f"CREATE TABLE {PLAIN} (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())",
        f"INSERT INTO {PLAIN} (id) SELECT generate_series(1, 10)",
    )
    yield PLAIN
    owner_sql(f"DROP TABLE IF EXISTS {PLAIN}, {PLAIN}_partitioned, {PLAIN}_old CASCADE")


def test_partition_convert_refuses_a_table_that_is_partitioned_already(committed: None) -> None:
    for step in ("--plan", "--backfill"):
        with pytest.raises(CommandError, match="jobs_job is partitioned already: there is nothing to convert"):
            run("partition_convert", "jobs_job", step)
    with pytest.raises(CommandError, match="jobs_job is partitioned already"):
        run("partition_convert", "jobs_job", "--swap", "--confirm", "jobs_job")


def test_partition_convert_asks_for_the_tables_name_again_before_a_swap_or_a_rollback(plain_table: str) -> None:
    owner_sql(f"CREATE TABLE {PLAIN}_partitioned (LIKE {PLAIN}) PARTITION BY RANGE (created_at)")

    with pytest.raises(CommandError, match=f"--swap asks for the table's name again: add --confirm {PLAIN}"):
        run("partition_convert", PLAIN, "--swap")
    with pytest.raises(CommandError, match="--confirm 'jobs_job' does not match"):
        run("partition_convert", PLAIN, "--swap", "--confirm", "jobs_job")
    with pytest.raises(CommandError, match=f"No {PLAIN}_old: nothing to roll back"):
        run("partition_convert", PLAIN, "--rollback", "--confirm", PLAIN)

    assert "lifecycle_precondition_sample_partitioned exists: True" in run("partition_convert", PLAIN, "--plan")


def test_partition_convert_without_the_owner_plans_and_refuses_its_ddl_steps(
    plain_table: str, without_owner: None
) -> None:
    plan = run("partition_convert", PLAIN, "--plan")
    with pytest.raises(CommandError) as refused:
        run("partition_convert", PLAIN, "--backfill", "--inline")

    assert "rows: 10" in plan
    assert "The real run would refuse: --backfill, --swap and --rollback: each needs the schema owner's" in plan
    assert str(refused.value) == (
        f"--backfill needs the schema owner's connection (POSTGRES_OWNER_DSN): {WITH_OWNER} "
        f"partition_convert {PLAIN} --backfill"
    )
    assert run("partition_convert", PLAIN, "--plan").count("exists: False") == 1  # no shadow was made
