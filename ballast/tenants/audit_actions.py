"""Audit actions of tenancy: tenants, memberships and API tokens."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "tenant.created": "A tenant was created.",
        "tenant.renamed": "A tenant's display name changed.",
        "tenant.suspended": "A tenant was suspended: its tokens get 403.",
        "tenant.resumed": "A suspended tenant was made active again.",
        "membership.created": "A user became a member of the tenant.",
        "membership.role_changed": "A member's role changed.",
        "membership.removed": "A member was removed, with their tokens.",
        "token.issued": "An API token was issued (its secret shown once, never stored).",
        "token.revoked": "An API token was revoked.",
    }
)
