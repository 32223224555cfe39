"""Audit actions of data lifecycle."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "tenant.purged": "A suspended tenant's data was purged (scopes, mode, rows and objects removed).",
        "tenant.partitions_dedicated": "A tenant was given partitions of its own (manage.py tenant_partition).",
        "tenant.partitions_released": "A tenant's own partitions were merged back (tenant_partition --release).",
    }
)
