"""Webhook signing secrets are encrypted at rest (FIELD_ENCRYPTION_KEY), rotate, and old rows are migrated."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from ballast.lib.encryption import UndecryptableSecret
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.context import tenant_scope
from ballast.tenants.db_roles import grant_runtime_privileges
from ballast.tenants.models import Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.webhooks.models import WebhookEndpoint

PUBLIC = "https://93.184.215.14/hooks"
NEW_KEY = Fernet.generate_key().decode()


def _raw_secret(endpoint_id: int) -> str:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint_id])
        return str(cursor.fetchone()[0])


def _create(tenant: Tenant, make_token: TokenMaker) -> tuple[int, str]:
    body = client_for(make_token(tenant)).post("/api/v1/webhooks", {"url": PUBLIC}, format="json").json()
    return body["id"], body["secret"]


def test_the_database_holds_no_plaintext_secret(tenant: Tenant, make_token: TokenMaker, settings) -> None:
    endpoint_id, secret = _create(tenant, make_token)

    raw = _raw_secret(endpoint_id)

    assert secret.startswith("whsec_")
    assert "whsec_" not in raw and secret[6:] not in raw
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(raw.encode()).decode() == secret
    assert WebhookEndpoint.objects.unscoped().get(pk=endpoint_id).secret == secret


def test_without_the_right_key_a_secret_is_refused_not_misread(
    tenant: Tenant, make_token: TokenMaker, settings
) -> None:
    endpoint_id, _secret = _create(tenant, make_token)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(UndecryptableSecret):
        WebhookEndpoint.objects.unscoped().get(pk=endpoint_id)


def test_rotation_re_encrypts_with_the_new_key_so_the_old_one_can_go(
    tenant: Tenant, make_token: TokenMaker, settings
) -> None:
    endpoint_id, secret = _create(tenant, make_token)
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    before = _raw_secret(endpoint_id)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, old_key]

    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    assert "webhooks_webhookendpoint.secret: 1 row(s) re-encrypted" in out.getvalue()
    assert _raw_secret(endpoint_id) != before
    assert WebhookEndpoint.objects.unscoped().get(pk=endpoint_id).secret == secret


def test_rotation_with_a_secret_no_key_decrypts_changes_nothing_and_names_it(
    tenant: Tenant, make_token: TokenMaker, settings
) -> None:
    kept_id, _ = _create(tenant, make_token)
    lost_id, _ = _create(tenant, make_token)
    with connections["system"].cursor() as cursor:  # encrypted with a key since dropped
        lost = Fernet(Fernet.generate_key()).encrypt(b"whsec_lost").decode()
        cursor.execute("UPDATE webhooks_webhookendpoint SET secret = %s WHERE id = %s", [lost, lost_id])
    before = _raw_secret(kept_id)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, *settings.FIELD_ENCRYPTION_KEYS]

    with pytest.raises(CommandError, match=rf"webhooks_webhookendpoint.secret ids {lost_id}\): put the key"):
        call_command("rotate_encryption_keys", "--dry-run", stdout=StringIO())
    with pytest.raises(CommandError, match="nothing was re-encrypted"):
        call_command("rotate_encryption_keys", stdout=StringIO())

    assert _raw_secret(kept_id) == before  # not re-encrypted: the run refused before its first write


def test_the_migration_encrypts_secrets_stored_in_clear_before_it(tenant: Tenant) -> None:
    owner = connections["owner"]
    executor = MigrationExecutor(owner)
    executor.migrate([("webhooks", "0001_initial")])
    try:
        with tenant_scope(tenant.pk, using="owner"), owner.cursor() as cursor:
            cursor.execute(
                "INSERT INTO webhooks_webhookendpoint (tenant_id, url, description, secret, event_types, enabled, "
                "disabled_reason, consecutive_failures, created_at, updated_at) VALUES "
                "(%s, %s, '', 'whsec_legacy-plaintext', '[]', true, '', 0, now(), now()) RETURNING id",
                [tenant.pk, PUBLIC],
            )
            endpoint_id = cursor.fetchone()[0]
    finally:
        executor = MigrationExecutor(owner)
        executor.migrate(executor.loader.graph.leaf_nodes())
        # The tables the migration created again have no grants until migrate's post_migrate step gives them.
        grant_runtime_privileges(using="owner")

    assert "whsec_" not in _raw_secret(endpoint_id)
    assert WebhookEndpoint.objects.unscoped().get(pk=endpoint_id).secret == "whsec_legacy-plaintext"
