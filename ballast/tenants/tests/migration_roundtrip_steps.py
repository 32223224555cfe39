"""Run by tenants/tests/test_migrations_roundtrip.py in a child process pointed at a scratch database:
`manage.py shell -c "from ballast.tenants.tests.migration_roundtrip_steps import main; main('<step>')"`.
Prints one JSON line of facts the test asserts on."""

from __future__ import annotations

import json
from typing import Any

from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader

OWNER = "owner"


def project_apps() -> list[str]:
    """Apps with migrations of their own, dependents first (the order to unapply them)."""
    loader = MigrationLoader(connections[OWNER])
    ours = ["ops", "uploads", "emails", "webhooks", "outbox", "jobs", "tenants"]
    return [app for app in ours if app in loader.migrated_apps]


def leaves() -> dict[str, list[str]]:
    """{app: [its migrations in order]} for our apps."""
    loader = MigrationLoader(connections[OWNER])
    graph = loader.graph
    result = {}
    for app in project_apps():
        [leaf] = graph.leaf_nodes(app)
        result[app] = [name for label, name in graph.forwards_plan(leaf) if label == app]
    return result


def seed() -> dict[str, Any]:
    from django.utils import timezone

    from ballast.emails.models import EmailDelivery
    from ballast.jobs.services import enqueue
    from ballast.tenants.context import tenant_scope
    from ballast.tenants.services import create_tenant
    from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint

    tenant = create_tenant(slug="roundtrip")
    with tenant_scope(tenant.pk):
        endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/in", secret="whsec-roundtrip")
        enqueue(tenant=tenant.pk, job_type="diagnostics.echo", payload={"value": 1})
        # One row in each partitioned delivery table (no job: the counts below expect one job).
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id="roundtrip",
            event_created_at=timezone.now(),
            event_type="job.created",
            webhook_id="msg_roundtrip",
            body="{}",
        )
        EmailDelivery.objects.create(key="roundtrip", message_id="<roundtrip@x>", from_email="a@x", payload_hash="p")
    seed_idempotency_records(tenant.pk)
    return {"tenant_id": tenant.pk, "endpoint_id": endpoint.pk, "secret": "whsec-roundtrip"}


def seed_idempotency_records(tenant_id: int) -> None:
    """One key in two day partitions (the migration made today's and those ahead), an expired record and a
    live one: the way back to the plain table (one record per key) must keep the live one."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    today = now.date()
    with connections["system"].cursor() as cursor:
        for day, expires in ((today, now - timedelta(hours=1)), (today + timedelta(days=1), now + timedelta(days=1))):
            cursor.execute(
                "INSERT INTO outbox_idempotencyrecord (tenant_id, token_id, key, method, path, fingerprint, status, "
                "lock_token, locked_until, response_headers, created_at, expires_at, day) VALUES (%s, 1, 'k', "
                "'POST', '/p', 'f', 'completed', gen_random_uuid(), now(), '{}', %s, %s, %s)",
                [tenant_id, day, expires, day],
            )


def facts() -> dict[str, Any]:
    from ballast.webhooks.models import WebhookEndpoint

    counts = {}
    tables_now = set(connections["system"].introspection.table_names())
    with connections["system"].cursor() as cursor:  # BYPASSRLS: every tenant's rows
        for table in (
            "tenants_tenant",
            "tenants_auditentry",
            "jobs_job",
            "outbox_outboxevent",
            "webhooks_webhookdelivery",
            "emails_emaildelivery",
        ):
            if table not in tables_now:
                continue
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (constant names)
            counts[table] = cursor.fetchone()[0]
        if "outbox_idempotencyrecord" in tables_now:
            cursor.execute("SELECT count(*) FROM outbox_idempotencyrecord WHERE expires_at > now()")
            counts["outbox_idempotencyrecord (live)"] = cursor.fetchone()[0]
    secrets = (
        [endpoint.secret for endpoint in WebhookEndpoint.objects.unscoped("system").all()]
        if "webhooks_webhookendpoint" in tables_now
        else []
    )
    with connections[OWNER].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
        tables = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = ANY(%s)", [project_apps()])
        applied = cursor.fetchone()[0]
    return {"counts": counts, "secrets": secrets, "tables": tables, "applied": applied}


def main(step: str) -> None:
    out: dict[str, Any] = {}
    if step == "up":
        call_command("migrate", verbosity=0)
        out = {"seed": seed(), "facts": facts(), "plan": leaves()}
    elif step == "step_back_and_forth":
        out["steps"] = []
        out["facts_after"] = {}
        for app, names in leaves().items():
            if len(names) < 2:
                continue  # its only step back is zero: the zero_and_up step covers it
            call_command("migrate", app, names[-2], verbosity=0)
            out["steps"].append(f"{app}:{names[-2]}")
            call_command("migrate", verbosity=0)
            out["facts_after"][app] = facts()
    elif step == "zero_and_up":
        for app in project_apps():
            call_command("migrate", app, "zero", verbosity=0)
        out["zero"] = facts()
        call_command("migrate", verbosity=0)
        out["up"] = facts()
    print("ROUNDTRIP " + json.dumps(out, default=str))
