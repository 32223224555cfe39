"""Management commands: thin wrappers that do what they print."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ballast.tenants.models import ApiToken, AuditEntry, Membership, Tenant
from ballast.tenants.tests.conftest import client_for


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_tenant_create_and_token_create_give_a_working_token(committed: None) -> None:
    _run("tenant_create", "initech", "--name", "Initech")
    token = (
        _run("token_create", "--tenant", "initech", "--username", "peter", "--role", "viewer").strip().splitlines()[-1]
    )

    response = client_for(token).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["tenant"]["name"] == "Initech"
    assert response.json()["role"] == "viewer"


def test_token_create_for_a_missing_tenant_is_a_clear_error(committed: None) -> None:
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        _run("token_create", "--tenant", "nope", "--username", "x")


def test_tenant_create_refuses_a_duplicate_and_a_bad_slug(committed: None) -> None:
    _run("tenant_create", "dup")
    with pytest.raises(CommandError, match="already exists"):
        _run("tenant_create", "dup")
    with pytest.raises(CommandError, match="lowercase"):
        _run("tenant_create", "Not A Slug")


def test_bootstrap_dev_is_idempotent_and_prints_working_tokens(committed: None) -> None:
    first = _run("bootstrap_dev")
    second = _run("bootstrap_dev")

    assert sorted(Tenant.objects.using("system").values_list("slug", flat=True)) == ["acme", "globex"]
    assert Membership.objects.unscoped().count() == 4
    assert ApiToken.objects.unscoped().count() == 8  # fresh tokens each run, nothing else duplicated
    assert "password admin-password" in first
    token = second.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert client_for(token).get("/api/v1/me").json()["tenant"]["slug"] == "globex"


def test_tenant_suspend_and_resume_are_audited_and_safe_to_repeat(committed: None) -> None:
    _run("tenant_create", "hooli")
    tenant = Tenant.objects.using("system").get(slug="hooli")

    first = _run("tenant_suspend", "hooli")
    again = _run("tenant_suspend", "hooli")
    suspended = Tenant.objects.using("system").get(pk=tenant.pk).status
    resumed = _run("tenant_resume", "hooli")

    assert suspended == Tenant.Status.SUSPENDED
    assert "Tenant hooli is suspended" in first and "was already suspended: nothing changed" in again
    assert "Tenant hooli is active again" in resumed
    assert Tenant.objects.using("system").get(pk=tenant.pk).status == Tenant.Status.ACTIVE
    trail = AuditEntry.objects.unscoped().filter(tenant=tenant).order_by("id")
    assert [e.action for e in trail] == ["tenant.created", "tenant.suspended", "tenant.resumed"]
    assert trail[1].actor.startswith("cli:") and trail[1].actor.endswith(":tenant_suspend")


def test_tenant_suspend_of_a_missing_tenant_is_a_clear_error(committed: None) -> None:
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        _run("tenant_suspend", "nope")
