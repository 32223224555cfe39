"""The tenants.E001/E002 system checks guard every tenant-owned table."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ballast.tenants import checks


def test_the_project_passes_its_own_checks() -> None:
    call_command("check", fail_level="ERROR")
    assert checks.check_tenant_tables() == []


def test_a_tenant_model_without_an_rls_migration_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    protected = checks.models_with_rls_migration()
    assert ("tenants", "apitoken") in protected
    monkeypatch.setattr(checks, "models_with_rls_migration", lambda: protected - {("tenants", "apitoken")})

    errors = checks.check_tenant_tables()

    assert [(error.id, error.obj.__name__) for error in errors] == [("tenants.E001", "ApiToken")]
    assert 'EnableRowLevelSecurity("apitoken")' in str(errors[0].hint)


def test_a_unique_constraint_without_the_tenant_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from ballast.tenants.models import ApiToken

    monkeypatch.setattr(ApiToken._meta, "unique_together", (("prefix",),))

    errors = checks.check_tenant_tables()

    assert [(error.id, error.obj.__name__) for error in errors] == [("tenants.E002", "ApiToken")]
