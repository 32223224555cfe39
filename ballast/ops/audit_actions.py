"""Audit actions that operator actions write into a tenant's audit log (beside their operator log row)."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "ops.bulk.confirm": "An operator confirmed a bulk action over the jobs a filter matched at preview.",
    }
)
