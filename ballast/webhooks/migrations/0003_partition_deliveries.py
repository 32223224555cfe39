"""Webhook deliveries become a monthly range-partitioned table on the event's creation time (retention drops
whole months: lifecycle).

`event_created_at` is added first and filled from the outbox event (a delivery whose event is gone from the
outbox takes its own created_at: that event can no longer be redelivered). The unique key then holds it: an
event id has one created_at, so a delivery of an event to an endpoint stays one row. Rows are copied (see jobs
0005 for large tables); the way back rebuilds the plain table under the same names, unique on (tenant,
endpoint, event) again, then drops the column."""

from django.db import migrations, models

from ballast.lib.partitioning import RangePartitioned, TableShape, partition_existing

TABLE = "webhooks_webhookdelivery"
DELIVERIES = TableShape(
    spec=RangePartitioned(TABLE, "event_created_at", "month"),
    indexes=(
        ("webhookdelivery_newest", "tenant_id, endpoint_id, id DESC"),
        ("webhooks_webhookdelivery_endpoint_id_d5bfb5c8", "endpoint_id"),
        ("webhooks_webhookdelivery_tenant_id_9545aa29", "tenant_id"),
    ),
    foreign_keys=(
        ("webhooks_webhookdeli_endpoint_id_d5bfb5c8_fk_webhooks_", "endpoint_id", "webhooks_webhookendpoint(id)"),
        ("webhooks_webhookdeli_tenant_id_9545aa29_fk_tenants_t", "tenant_id", "tenants_tenant(id)"),
    ),
    unique=(("webhookdelivery_unique_event_per_endpoint", "tenant_id, endpoint_id, event_id, event_created_at"),),
)


def fill_event_created_at(apps, schema_editor):
    """Every tenant's rows: forced row-level security binds the owner too, so it is lifted inside this
    migration's transaction only (other sessions never see it lifted)."""
    with schema_editor.connection.cursor() as cursor:
        for table in (TABLE, "outbox_outboxevent"):
            cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        cursor.execute(
            f"UPDATE {TABLE} d SET event_created_at = COALESCE("  # noqa: S608 (names from code)
            "(SELECT min(o.created_at) FROM outbox_outboxevent o "
            "WHERE o.tenant_id = d.tenant_id AND o.event_id::text = d.event_id), d.created_at)"
        )
        for table in (TABLE, "outbox_outboxevent"):
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_encrypt_secrets"),
        ("outbox", "0002_relay_takes_turns_across_tenants"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery", name="event_created_at", field=models.DateTimeField(null=True)
        ),
        migrations.RunPython(fill_event_created_at, migrations.RunPython.noop),
        migrations.AlterField(model_name="webhookdelivery", name="event_created_at", field=models.DateTimeField()),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(*partition_existing(DELIVERIES))],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="webhookdelivery", name="webhookdelivery_unique_event_per_endpoint"
                ),
                migrations.AddConstraint(
                    model_name="webhookdelivery",
                    constraint=models.UniqueConstraint(
                        fields=("tenant", "endpoint", "event_id", "event_created_at"),
                        name="webhookdelivery_unique_event_per_endpoint",
                    ),
                ),
            ],
        ),
        # Made on the partitioned parent: every partition gets it.
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="webhookdelivery_pending"
            ),
        ),
    ]
