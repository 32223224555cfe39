"""Every operator write is audited with its actor and trace id; action names are registered in one place."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from ballast.emails.transitions import AUDIT_ACTIONS as EMAIL_TRANSITION_ACTIONS
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.audit import UnregisteredAuditAction, record, record_many, registered_actions
from ballast.tenants.models import AuditEntry, Role, Tenant
from ballast.tenants.services import create_user_token, set_tenant_status
from ballast.tenants.tests.conftest import client_for

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
APPS = ("tenants", "jobs", "outbox", "webhooks", "emails", "config")


def _trail(tenant: Tenant | None = None) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.unscoped().order_by("id")
    if tenant is not None:
        entries = entries.filter(tenant=tenant)
    return list(entries.values_list("action", "actor"))


def test_record_refuses_an_unregistered_action_and_writes_nothing(tenant_a: Tenant) -> None:
    with pytest.raises(UnregisteredAuditAction, match=r"tenant\.deleted_by_typo"):
        record(
            tenant_id=tenant_a.pk,
            actor="x",
            action="tenant.deleted_by_typo",
            target_type="t",
            target_id=1,
            using="system",
        )
    row = {"tenant_id": tenant_a.pk, "actor": "x", "target_type": "t", "target_id": "1", "trace_id": ""}
    with pytest.raises(UnregisteredAuditAction):
        record_many([{**row, "action": "job.enqueued"}, {**row, "action": "job.exploded"}], using="system")

    assert not AuditEntry.objects.unscoped().filter(actor="x").exists()


# An action name in code: `action="a.b"`, `action = "a.b"`, `"action": "a.b"`, or a literal in an audit INSERT.
_ACTION_IN_CODE = re.compile(r"""(?:\baction\s*=\s*|"action":\s*)["']([a-z0-9_]+\.[a-z0-9_.]+)["']""")
_LITERAL = re.compile(r"'([a-z0-9_]+\.[a-z0-9_]+)'")


def _action_names_in_code() -> set[str]:
    names: set[str] = set()
    for app in APPS:
        for path in (settings.BASE_DIR / "ballast" / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            text = path.read_text()
            names.update(_ACTION_IN_CODE.findall(text))
            for insert in re.finditer("INSERT INTO tenants_auditentry", text):
                names.update(_LITERAL.findall(text, insert.end(), insert.end() + 300))
    return names | set(EMAIL_TRANSITION_ACTIONS.values())


def test_every_action_name_written_anywhere_in_the_code_is_registered() -> None:
    in_code = _action_names_in_code()

    assert {"job.enqueued", "job.retried", "job.dlq_recorded", "webhook.endpoint_created", "email.sent"} <= in_code
    assert in_code - set(registered_actions()) == set()


def test_each_app_registers_its_own_actions() -> None:
    prefixes = {name.split(".", 1)[0] for name in registered_actions()}

    assert {"tenant", "membership", "token", "job", "webhook", "email", "idempotency"} <= prefixes


def test_tenant_and_token_commands_are_audited_with_the_operator_as_actor(committed: None) -> None:
    call_command("tenant_create", "charlie", stdout=StringIO())
    call_command("token_create", "--tenant", "charlie", "--username", "ada", "--role", "admin", stdout=StringIO())

    tenant = Tenant.objects.get(slug="charlie")
    trail = _trail(tenant)
    assert [action for action, _ in trail] == ["tenant.created", "membership.created", "token.issued"]
    assert trail[0][1].startswith("cli:") and trail[0][1].endswith(":tenant_create")
    assert trail[2][1].endswith(":token_create")


def test_suspending_and_resuming_is_audited_once_per_change(tenant_a: Tenant) -> None:
    set_tenant_status(tenant=tenant_a, status=Tenant.Status.SUSPENDED, actor="user:ops")
    set_tenant_status(tenant=tenant_a, status=Tenant.Status.SUSPENDED, actor="user:ops")
    set_tenant_status(tenant=tenant_a, status=Tenant.Status.ACTIVE, actor="user:ops")

    assert _trail(tenant_a) == [("tenant.suspended", "user:ops"), ("tenant.resumed", "user:ops")]


def test_revoking_a_token_through_the_api_is_audited_with_the_requests_trace(
    tenant_a: Tenant, make_token: TokenMaker
) -> None:
    admin = make_token(tenant_a, Role.ADMIN)
    victim = create_user_token(tenant=tenant_a, username="bob", role=Role.MEMBER).token

    first = client_for(admin).delete(f"/api/v1/tokens/{victim.pk}", HTTP_TRACEPARENT=TRACEPARENT)
    again = client_for(admin).delete(f"/api/v1/tokens/{victim.pk}", HTTP_TRACEPARENT=TRACEPARENT)

    assert first.status_code == again.status_code == 200
    revoked = AuditEntry.objects.unscoped().filter(action="token.revoked")
    assert revoked.count() == 1
    entry = revoked.get()
    assert (entry.target_id, entry.trace_id) == (str(victim.pk), TRACE_ID)
    assert entry.actor.startswith("user:alpha-admin")


def test_invalidating_an_idempotency_key_is_audited(tenant_a: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant_a)
    client_for(token).post(
        "/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k-7"
    )

    call_command("idempotency_invalidate", "--tenant", "alpha", "--key", "k-7", stdout=StringIO())

    entry = AuditEntry.objects.unscoped().get(action="idempotency.key_invalidated")
    assert (entry.tenant_id, entry.target_id, entry.data["records"]) == (tenant_a.pk, "k-7", 1)
    assert entry.actor.endswith(":idempotency_invalidate")


def test_webhook_endpoint_changes_carry_the_requests_trace_id(tenant_a: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant_a))

    created = client.post(
        "/api/v1/webhooks", {"url": "https://93.184.215.14/h"}, format="json", HTTP_TRACEPARENT=TRACEPARENT
    )
    client.patch(
        f"/api/v1/webhooks/{created.json()['id']}", {"enabled": False}, format="json", HTTP_TRACEPARENT=TRACEPARENT
    )

    entries = AuditEntry.objects.unscoped().filter(action__startswith="webhook.").order_by("id")
    assert [(e.action, e.trace_id) for e in entries] == [
        ("webhook.endpoint_created", TRACE_ID),
        ("webhook.endpoint_updated", TRACE_ID),
    ]
