"""The outbox's primary key gains tenant_id, so a month can be LIST-partitioned by tenant (see jobs 0007)."""

from django.db import migrations

from ballast.lib.partitioning import RangePartitioned, tenant_in_primary_key


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0003_partition_idempotency_records"),
    ]

    operations = [
        migrations.RunPython(*tenant_in_primary_key(RangePartitioned("outbox_outboxevent", "created_at")))
    ]
