"""Email deliveries become a monthly range-partitioned table on created_at (retention drops whole months:
lifecycle).

A unique key on a partitioned table must hold the partition column, so the per-tenant key loses its unique
index: send_email serializes one (tenant, key) with an advisory lock and looks the key up across the retained
partitions (a plain index, `emaildelivery_key`). The Message-ID key gains created_at (Message-IDs are random
UUIDs). The partial indexes go before the rebuild and come back on the partitioned table. Rows are copied (see
jobs 0005 for large tables); the way back rebuilds the plain table with both unique keys as they were."""

from django.db import migrations, models

from ballast.lib.partitioning import RangePartitioned, TableShape, partition_existing

DELIVERIES = TableShape(
    spec=RangePartitioned("emails_emaildelivery", "created_at", "month"),
    indexes=(
        ("emaildelivery_tenant_created", "tenant_id, created_at"),
        ("emaildelivery_tenant_status", "tenant_id, status, created_at"),
        ("emails_emaildelivery_tenant_id_6b60452b", "tenant_id"),
    ),
    foreign_keys=(
        ("emails_emaildelivery_tenant_id_6b60452b_fk_tenants_tenant_id", "tenant_id", "tenants_tenant(id)"),
    ),
    unique=(("emaildelivery_unique_message_id", "tenant_id, message_id, created_at"),),
)


class Migration(migrations.Migration):
    dependencies = [
        ("emails", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="emaildelivery", name="emaildelivery_unique_key_per_tenant"),
        migrations.RemoveIndex(model_name="emaildelivery", name="emaildelivery_sending"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(*partition_existing(DELIVERIES))],
            state_operations=[
                migrations.RemoveConstraint(model_name="emaildelivery", name="emaildelivery_unique_message_id"),
                migrations.AddConstraint(
                    model_name="emaildelivery",
                    constraint=models.UniqueConstraint(
                        fields=("tenant", "message_id", "created_at"), name="emaildelivery_unique_message_id"
                    ),
                ),
            ],
        ),
        # Made on the partitioned parent: every partition gets them.
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(
                condition=models.Q(("status", "sending")), fields=["job_id"], name="emaildelivery_sending"
            ),
        ),
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(
                condition=models.Q(("key__isnull", False)), fields=["tenant", "key"], name="emaildelivery_key"
            ),
        ),
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "sending", "unknown"])),
                fields=["job_id"],
                name="emaildelivery_unfinished",
            ),
        ),
    ]
