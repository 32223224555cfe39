"""The admin: no lookups on secrets, tokens read-only, and every write through an audited service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ballast.outbox.models import IdempotencyRecord
from ballast.tenants.models import ApiToken, AuditEntry, Membership, Role, Tenant
from ballast.tenants.services import create_user_token
from ballast.tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory
from ballast.webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.usefixtures("committed")

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _client(*permissions: str, superuser: bool = False) -> Client:
    user_model = get_user_model()
    user = user_model.objects.create_user("staff", password="pw-for-tests-only", is_staff=True, is_superuser=superuser)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client(HTTP_TRACEPARENT=TRACEPARENT)
    client.force_login(user)
    return client


def _endpoint(tenant: Tenant) -> WebhookEndpoint:
    return WebhookEndpoint.objects.unscoped().create(tenant=tenant, url="https://example.com/h", secret="whsec_abc")


def _audit(action: str) -> AuditEntry:
    return AuditEntry.objects.unscoped().get(action=action)


# ---------------------------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("model", "permission", "lookup"),
    [
        ("webhooks_webhookendpoint", "view_webhookendpoint", "secret__startswith=whsec_"),
        ("webhooks_webhookendpoint", "view_webhookendpoint", "secret=whsec_abc"),
        ("webhooks_webhookdelivery", "view_webhookdelivery", "endpoint__secret__startswith=whsec_"),
        ("tenants_apitoken", "view_apitoken", "key_hash__startswith=a"),
        ("outbox_idempotencyrecord", "view_idempotencyrecord", "response_body__contains=whsec_"),
        ("outbox_idempotencyrecord", "view_idempotencyrecord", "fingerprint__startswith=0"),
    ],
)
def test_a_staff_user_cannot_filter_by_a_secret_field(model: str, permission: str, lookup: str) -> None:
    _endpoint(TenantFactory.create())
    client = _client(permission)
    app, name = model.split("_", 1)
    url = reverse(f"admin:{app}_{name}_changelist")

    assert client.get(url).status_code == 200
    assert client.get(f"{url}?{lookup}").status_code == 400


def test_filtering_by_ordinary_fields_still_works() -> None:
    tenant = TenantFactory.create()
    _endpoint(tenant)
    client = _client("view_webhookendpoint")

    response = client.get(reverse("admin:webhooks_webhookendpoint_changelist") + f"?tenant__id__exact={tenant.pk}")

    assert response.status_code == 200


# ---------------------------------------------------------------------------------------------- tokens


def test_a_token_cannot_be_moved_to_another_tenant_or_unrevoked_in_the_admin() -> None:
    alpha, bravo = TenantFactory.create(slug="alpha"), TenantFactory.create(slug="bravo")
    token = create_user_token(tenant=alpha, username="ada", role=Role.MEMBER).token
    other = MembershipFactory.create(tenant=bravo)
    ApiToken.objects.unscoped().filter(pk=token.pk).update(revoked_at=timezone.now() - timedelta(days=1))
    client = _client(superuser=True)
    url = reverse("admin:tenants_apitoken_change", args=[token.pk])

    page = client.get(url)
    posted = client.post(url, {"tenant": bravo.pk, "membership": other.pk, "revoked_at_0": "", "revoked_at_1": ""})

    assert page.status_code == 200 and b'name="tenant"' not in page.content
    assert posted.status_code == 403
    stored = ApiToken.objects.unscoped().get(pk=token.pk)
    assert (stored.tenant_id, stored.membership_id, stored.revoked_at is not None) == (
        alpha.pk,
        token.membership_id,
        True,
    )


def test_the_database_ties_a_tokens_tenant_to_its_memberships() -> None:
    alpha, bravo = TenantFactory.create(slug="alpha"), TenantFactory.create(slug="bravo")
    token = create_user_token(tenant=alpha, username="ada", role=Role.MEMBER).token

    with pytest.raises(IntegrityError, match="apitoken_membership_same_tenant"), transaction.atomic(using="system"):
        ApiToken.objects.unscoped().filter(pk=token.pk).update(tenant_id=bravo.pk)

    assert ApiToken.objects.unscoped().get(pk=token.pk).tenant_id == alpha.pk


def test_revoking_tokens_in_the_admin_goes_through_the_service_and_is_audited() -> None:
    tenant = TenantFactory.create()
    token = create_user_token(tenant=tenant, username="ada", role=Role.MEMBER).token
    client = _client("view_apitoken", "change_apitoken")

    response = client.post(
        reverse("admin:tenants_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}
    )

    assert response.status_code == 302
    assert ApiToken.objects.unscoped().get(pk=token.pk).revoked_at is not None
    audit = _audit("token.revoked")
    assert (audit.actor, audit.target_id, audit.trace_id) == ("user:staff", str(token.pk), TRACE_ID)


def test_a_view_only_staff_user_cannot_revoke() -> None:
    tenant = TenantFactory.create()
    token = create_user_token(tenant=tenant, username="ada", role=Role.MEMBER).token
    client = _client("view_apitoken")

    client.post(reverse("admin:tenants_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]})

    assert ApiToken.objects.unscoped().get(pk=token.pk).revoked_at is None
    assert not AuditEntry.objects.unscoped().filter(action="token.revoked").exists()


# ---------------------------------------------------------------------------------------------- tenants


def test_creating_and_suspending_a_tenant_in_the_admin_is_audited_with_actor_and_trace() -> None:
    client = _client(superuser=True)

    added = client.post(reverse("admin:tenants_tenant_add"), {"slug": "charlie", "name": "Charlie"})
    tenant = Tenant.objects.get(slug="charlie")
    changed = client.post(
        reverse("admin:tenants_tenant_change", args=[tenant.pk]), {"name": "Charlie Ltd", "status": "suspended"}
    )

    assert added.status_code == changed.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.name, tenant.status) == ("Charlie Ltd", "suspended")
    trail = AuditEntry.objects.unscoped().filter(tenant=tenant).order_by("id")
    assert [(e.action, e.actor, e.trace_id) for e in trail] == [
        ("tenant.created", "user:staff", TRACE_ID),
        ("tenant.renamed", "user:staff", TRACE_ID),
        ("tenant.suspended", "user:staff", TRACE_ID),
    ]


def test_the_admins_suspend_action_asks_first_and_suspends_only_when_confirmed() -> None:
    acme, globex = TenantFactory.create(slug="acme"), TenantFactory.create(slug="globex")
    client = _client(superuser=True)
    url = reverse("admin:tenants_tenant_changelist")
    chosen = {"action": "suspend", "_selected_action": [acme.pk, globex.pk]}

    asked = client.post(url, chosen)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Suspend these tenants?" in page and "acme" in page and "globex" in page
    assert 'name="post" value="yes"' in page and "Yes, suspend 2 tenants" in page
    assert set(Tenant.objects.values_list("status", flat=True)) == {"active"}
    assert not AuditEntry.objects.unscoped().filter(action="tenant.suspended").exists()

    confirmed = client.post(url, {**chosen, "post": "yes"})

    assert confirmed.status_code == 302
    assert set(Tenant.objects.values_list("status", flat=True)) == {"suspended"}
    suspended = AuditEntry.objects.unscoped().filter(action="tenant.suspended")
    assert sorted(e.tenant_id for e in suspended) == sorted([acme.pk, globex.pk])
    assert {e.actor for e in suspended} == {"user:staff"}


def test_no_one_deletes_a_tenant_from_the_admin() -> None:
    tenant = TenantFactory.create()

    response = _client(superuser=True).post(reverse("admin:tenants_tenant_delete", args=[tenant.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_the_resume_action_resumes_and_audits() -> None:
    tenant = TenantFactory.create(status=Tenant.Status.SUSPENDED)
    client = _client(superuser=True)

    client.post(reverse("admin:tenants_tenant_changelist"), {"action": "resume", "_selected_action": [tenant.pk]})

    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE
    assert _audit("tenant.resumed").tenant_id == tenant.pk


# ---------------------------------------------------------------------------------------------- memberships


def test_adding_changing_and_removing_a_member_in_the_admin_is_audited() -> None:
    tenant = TenantFactory.create()
    user = UserFactory.create(username="grace")
    client = _client(superuser=True)

    added = client.post(
        reverse("admin:tenants_membership_add"), {"tenant": tenant.pk, "user": user.pk, "role": "viewer"}
    )
    membership = Membership.objects.unscoped().get(tenant=tenant, user=user)
    create_user_token(tenant=tenant, username="grace", role=Role.VIEWER)
    changed = client.post(reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": "admin"})
    removed = client.post(reverse("admin:tenants_membership_delete", args=[membership.pk]), {"post": "yes"})

    assert added.status_code == changed.status_code == removed.status_code == 302
    assert not Membership.objects.unscoped().filter(pk=membership.pk).exists()
    assert not ApiToken.objects.unscoped().filter(membership_id=membership.pk).exists()
    actions = list(
        AuditEntry.objects.unscoped().filter(tenant=tenant).order_by("id").values_list("action", "actor", "trace_id")
    )
    staff = [row for row in actions if row[1] == "user:staff"]
    assert [row[0] for row in staff] == ["membership.created", "membership.role_changed", "membership.removed"]
    assert all(row[2] == TRACE_ID for row in staff)


def test_adding_an_existing_member_again_is_refused_with_a_form_error() -> None:
    membership = MembershipFactory.create()
    client = _client(superuser=True)

    response = client.post(
        reverse("admin:tenants_membership_add"),
        {"tenant": membership.tenant_id, "user": membership.user_id, "role": "owner"},
    )

    assert response.status_code == 200 and b"already exists" in response.content
    assert Membership.objects.unscoped().get(pk=membership.pk).role == Role.MEMBER


# ---------------------------------------------------------------------------------------------- idempotency


def _idempotency_record(tenant: Tenant, **values: Any) -> IdempotencyRecord:
    now = timezone.now()
    defaults = {"token_id": 1, "key": "k1", "method": "POST", "path": "/api/v1/jobs", "fingerprint": "0" * 64}
    return IdempotencyRecord.objects.unscoped().create(
        tenant=tenant, locked_until=now, expires_at=now + timedelta(hours=1), **{**defaults, **values}
    )


def test_forgetting_an_idempotency_key_in_the_admin_is_audited() -> None:
    tenant = TenantFactory.create()
    record = _idempotency_record(tenant)
    client = _client(superuser=True)

    response = client.post(reverse("admin:outbox_idempotencyrecord_delete", args=[record.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not IdempotencyRecord.objects.unscoped().exists()
    audit = _audit("idempotency.key_invalidated")
    assert (audit.tenant_id, audit.actor, audit.target_id, audit.data["records"]) == (tenant.pk, "user:staff", "k1", 1)
