"""Audit actions of webhook endpoints."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "webhook.endpoint_created": "A webhook endpoint was created (its secret shown once).",
        "webhook.endpoint_updated": "A webhook endpoint's URL, event types, description or state changed.",
        "webhook.endpoint_deleted": "A webhook endpoint was deleted, with its deliveries.",
        "webhook.endpoint_disabled": "A webhook endpoint was disabled: 410 Gone, or failing for days.",
    }
)
