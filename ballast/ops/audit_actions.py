"""Audit actions that operator actions write into a tenant's audit log (beside their own OperatorAction row)."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "job.discarded": "An operator discarded a queued or failed job (it will not run).",
        "ops.bulk.confirm": "An operator confirmed a bulk action over the jobs a filter matched at preview.",
    }
)
