"""Row-level security holds on the app role, whatever the ORM does."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connections, transaction
from django.db.models import Model

from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Membership, Tenant
from ballast.tenants.owned_models import tenant_owned_models
from ballast.tenants.tests.factories import MembershipFactory


def _count_on(alias: str, table: str = "tenants_membership") -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (constant table names)
        return int(cursor.fetchone()[0])


def _raw_tenant_setting() -> tuple[str | None, int]:
    """The session's app.tenant_id and the server process behind it."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true), pg_backend_pid()")
        setting, pid = cursor.fetchone()
        return setting, pid


def test_the_app_role_sees_no_rows_without_a_tenant_while_the_system_role_sees_them(tenant_a: Tenant) -> None:
    MembershipFactory.create_batch(3, tenant=tenant_a)

    assert _count_on("system") == 3  # the rows exist, so the zero below is not vacuous
    assert _count_on("default") == 0


def test_the_app_role_sees_only_the_scoped_tenants_rows(tenant_a: Tenant, tenant_b: Tenant) -> None:
    MembershipFactory.create_batch(2, tenant=tenant_a)
    MembershipFactory.create_batch(5, tenant=tenant_b)

    with tenant_scope(tenant_a.pk):
        raw = _count_on("default")
        orm = Membership.objects.count()
        unfiltered = Membership._base_manager.count()  # no ORM filter: only RLS stands in the way

    assert (raw, orm, unfiltered) == (2, 2, 2)


def test_a_new_transaction_after_a_scoped_one_sees_nothing_and_raises_nothing(tenant_a: Tenant) -> None:
    MembershipFactory.create_batch(2, tenant=tenant_a)
    with tenant_scope(tenant_a.pk):
        assert _count_on("default") == 2

    # current_setting is now '' (not unset) on this session: NULLIF must turn it into "no tenant".
    with transaction.atomic():
        assert _count_on("default") == 0


def test_a_pooled_connection_reused_by_the_next_request_carries_no_tenant(tenant_a: Tenant) -> None:
    MembershipFactory.create(tenant=tenant_a)
    with tenant_scope(tenant_a.pk):
        setting_inside, pid_inside = _raw_tenant_setting()
        assert _count_on("default") == 1
    connections["default"].close()  # what request_finished does: the session goes back to the pool

    # The pool hands sessions out in turn: check out until the very session that carried the tenant returns.
    seen = []
    for _ in range(20):
        seen.append(_raw_tenant_setting())
        rows = _count_on("default")
        connections["default"].close()
        assert rows == 0
        if seen[-1][1] == pid_inside:
            break

    assert setting_inside == str(tenant_a.pk)
    assert seen[-1][1] == pid_inside, "the pooled session never came back: the test proved nothing"
    assert all(setting in ("", None) for setting, _pid in seen)


def test_inserting_a_row_for_another_tenant_is_rejected(tenant_a: Tenant, tenant_b: Tenant) -> None:
    user = get_user_model().objects.create(username="mallory")

    with pytest.raises(DatabaseError, match="row-level security"), tenant_scope(tenant_a.pk):
        Membership._base_manager.create(tenant_id=tenant_b.pk, user=user)

    assert Membership.objects.unscoped().count() == 0


def test_moving_a_row_to_another_tenant_is_rejected(tenant_a: Tenant, tenant_b: Tenant) -> None:
    membership = MembershipFactory.create(tenant=tenant_a)

    with pytest.raises(DatabaseError, match="row-level security"), tenant_scope(tenant_a.pk):
        Membership.objects.filter(pk=membership.pk).update(tenant_id=tenant_b.pk)

    assert Membership.objects.unscoped().get(pk=membership.pk).tenant_id == tenant_a.pk


def test_updating_another_tenants_row_touches_nothing(tenant_a: Tenant, tenant_b: Tenant) -> None:
    theirs = MembershipFactory.create(tenant=tenant_b, role="member")

    with tenant_scope(tenant_a.pk):
        updated = Membership._base_manager.filter(pk=theirs.pk).update(role="owner")

    assert updated == 0
    assert Membership.objects.unscoped().get(pk=theirs.pk).role == "member"


def test_inserting_without_a_tenant_context_is_rejected(tenant_a: Tenant) -> None:
    user = get_user_model().objects.create(username="nobody")

    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Membership._base_manager.create(tenant_id=tenant_a.pk, user=user)


@pytest.mark.usefixtures("committed")
def test_the_app_role_is_not_superuser_not_bypassrls_and_owns_no_table() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
        assert cursor.fetchone()[0] is False
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, True)


@pytest.mark.usefixtures("committed")
def test_every_tenant_table_has_forced_rls_and_the_tenant_policy() -> None:
    tables = [model._meta.db_table for model in tenant_owned_models()]
    assert {"tenants_membership", "tenants_apitoken"} <= set(tables)
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, p.qual, p.with_check, p.cmd "
            "FROM pg_class c LEFT JOIN pg_policies p ON p.tablename = c.relname AND p.policyname = 'tenant_isolation' "
            "WHERE c.relname = ANY(%s)",
            [tables],
        )
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    assert set(rows) == set(tables)
    for table, (enabled, forced, using, check, command) in rows.items():
        assert enabled and forced, table
        assert command == "ALL", table
        assert "current_setting('app.tenant_id'" in using and using == check, table


# Every relation with a tenant_id column (partitions included): forced row-level security, or no privilege at
# all for the app role (operator-side tables, reached through the system alias only).
TENANT_TABLES_CATALOGUE = """
SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity,
    has_table_privilege(%(role)s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
    OR has_any_column_privilege(%(role)s, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname
"""


@pytest.mark.usefixtures("committed")
def test_every_table_with_a_tenant_column_is_forced_rls_or_out_of_the_app_roles_reach() -> None:
    from django.conf import settings

    with connections["system"].cursor() as cursor:
        cursor.execute(TENANT_TABLES_CATALOGUE, {"role": settings.DATABASES["default"]["USER"]})
        rows = cursor.fetchall()
    names = {name for name, _, _ in rows}
    assert {"jobs_job", "ops_operatoraction", "ops_minuterollup"} <= names
    assert any(name.startswith("jobs_job_") for name in names), "partitions are walked too"
    exposed = sorted(name for name, forced, privileged in rows if privileged and not forced)
    assert exposed == []


@pytest.mark.usefixtures("committed")
def test_the_app_role_has_no_right_on_the_operator_side_tables_and_the_orm_takes_the_system_alias() -> None:
    from ballast.jobs.models import BulkOperation
    from ballast.ops.models import Alert, MinuteRollup
    from ballast.tenants.models import OperatorAction

    operator_side: list[type[Model]] = [OperatorAction, BulkOperation, Alert, MinuteRollup]
    for model in operator_side:
        assert model._default_manager.db == "system", model
    with connections["default"].cursor() as cursor:
        for model in operator_side:
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(using="default"):
                cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # noqa: S608 (model tables)
