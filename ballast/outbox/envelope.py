"""The event envelope, serialised as CloudEvents 1.0 JSON."""

from __future__ import annotations

from typing import Any

from ballast.outbox.models import OutboxEvent

SPEC_VERSION = "1.0"


def to_cloudevent(event: OutboxEvent) -> dict[str, Any]:
    """Extension attributes (lowercase, per the spec): correlationid, causationid, traceparent, tenantid,
    actor, eventversion."""
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(event.event_id),
        "source": f"/ballast/tenants/{event.tenant_id}",
        "type": event.event_type,
        "subject": f"{event.target_type}/{event.target_id}",
        "time": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": event.payload,
        "tenantid": str(event.tenant_id),
        "actor": event.actor,
        "eventversion": str(event.version),
    }
    for name, value in (
        ("correlationid", event.correlation_id),
        ("causationid", event.causation_id),
        ("traceparent", event.traceparent),
    ):
        if value:
            body[name] = value
    return body
