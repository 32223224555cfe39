"""Audit actions of data lifecycle."""

from tenants.audit import register_actions

register_actions(
    {
        "tenant.purged": "A suspended tenant's data was purged (scopes, mode, rows and objects removed).",
    }
)
