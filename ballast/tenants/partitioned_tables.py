"""The tenants app's partitioned table: the audit trail, by month and per tenant."""

from __future__ import annotations

from ballast.lib.partitioned_tables import HighVolumeTable, days, register
from ballast.lib.partitioning import RangePartitioned

register(
    HighVolumeTable(
        RangePartitioned("tenants_auditentry", "at", "month"),
        "RETENTION_AUDIT_DAYS",
        days("RETENTION_AUDIT_DAYS"),
        per_tenant=True,
    )
)
