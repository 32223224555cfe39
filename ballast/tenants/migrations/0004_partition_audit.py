"""Audit entries become a monthly range-partitioned table (retention drops whole months: lifecycle). Rows are
copied (see jobs 0005 for large tables); the way back rebuilds the plain table under the same names."""

from django.db import migrations

from ballast.lib.partitioning import RangePartitioned, TableShape, partition_existing

AUDIT = TableShape(
    spec=RangePartitioned("tenants_auditentry", "at", "month"),
    indexes=(
        ("audit_tenant_at", "tenant_id, at"),
        ("audit_tenant_target", "tenant_id, target_type, target_id, at"),
        ("tenants_auditentry_tenant_id_65c2d4a0", "tenant_id"),
    ),
    foreign_keys=(("tenants_auditentry_tenant_id_65c2d4a0_fk_tenants_tenant_id", "tenant_id", "tenants_tenant(id)"),),
)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_token_membership_same_tenant"),
    ]

    operations = [migrations.RunPython(*partition_existing(AUDIT))]
