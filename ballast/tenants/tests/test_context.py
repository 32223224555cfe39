"""tenant_scope and the scoped managers fail closed."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from ballast.tenants.context import TenantContextError, current_tenant_id, tenant_scope
from ballast.tenants.models import ApiToken, Membership, Tenant


def _db_setting() -> str | None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        return cursor.fetchone()[0]


def test_the_manager_raises_without_a_tenant_context() -> None:
    with pytest.raises(TenantContextError, match="tenant_scope"):
        Membership.objects.all()
    with pytest.raises(TenantContextError):
        ApiToken.objects.filter(name="x")


def test_unscoped_is_the_explicit_system_escape_hatch() -> None:
    assert Membership.objects.unscoped().db == "system"


@pytest.mark.django_db
def test_the_scope_sets_the_database_tenant_only_for_its_transaction() -> None:
    with tenant_scope(7):
        assert _db_setting() == "7"
        assert current_tenant_id() == 7
    # Inside the test's outer transaction the value must not outlive the block.
    assert _db_setting() == ""
    assert current_tenant_id() is None


@pytest.mark.django_db
def test_a_failed_scope_inside_a_transaction_leaves_no_tenant_behind() -> None:
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), tenant_scope(3):
            _ = 1 / 0
        assert _db_setting() in ("", None)
    assert current_tenant_id() is None


@pytest.mark.django_db
def test_switching_tenant_inside_a_scope_is_refused_and_nesting_the_same_one_is_fine() -> None:
    with tenant_scope(1):
        with tenant_scope(1):
            assert _db_setting() == "1"
        assert _db_setting() == "1"
        with pytest.raises(TenantContextError, match="refusing to switch"), tenant_scope(2):
            pass
        assert current_tenant_id() == 1


@pytest.mark.parametrize("bad", [0, -1, "1", None, True])
def test_the_scope_rejects_a_malformed_tenant_id(bad: object) -> None:
    with pytest.raises(TenantContextError, match="positive integer"), tenant_scope(bad):  # type: ignore[arg-type]
        pass


def test_the_manager_fills_in_the_current_tenant_on_create(committed: None) -> None:
    from ballast.tenants.tests.factories import TenantFactory, UserFactory

    tenant: Tenant = TenantFactory.create()
    user = UserFactory.create()
    with tenant_scope(tenant.pk):
        membership = Membership.objects.create(user=user)
    assert membership.tenant_id == tenant.pk
