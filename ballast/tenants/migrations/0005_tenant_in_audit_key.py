"""The audit log's primary key gains tenant_id, so a month can be LIST-partitioned by tenant (see jobs 0006)."""

from django.db import migrations

from ballast.lib.partitioning import RangePartitioned, tenant_in_primary_key


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_partition_audit"),
    ]

    operations = [migrations.RunPython(*tenant_in_primary_key(RangePartitioned("tenants_auditentry", "at")))]
