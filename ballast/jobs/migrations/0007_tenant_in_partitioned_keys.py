"""The primary keys of attempts and checkpoints gain tenant_id: a month can then be LIST-partitioned by tenant
(tenants with partitions of their own, lifecycle.dedicated_tenants). The checkpoints' unique key holds tenant_id already.
Rebuilds each key's index on every partition; the way back refuses while a month is partitioned by tenant."""

from django.db import migrations

from ballast.lib.partitioning import RangePartitioned, tenant_in_primary_key


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_partition_jobs"),
    ]

    operations = [
        migrations.RunPython(*tenant_in_primary_key(RangePartitioned("jobs_jobattempt", "started_at"))),
        migrations.RunPython(*tenant_in_primary_key(RangePartitioned("jobs_checkpoint", "created_at"))),
    ]
