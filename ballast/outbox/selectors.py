"""Reads of the outbox: a tenant's events and the causal tree of a correlation."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from ballast.outbox.envelope import to_cloudevent
from ballast.outbox.models import OutboxEvent

MAX_CHAIN_EVENTS = 1000


def events_of_current_tenant(
    *, correlation_id: str | None = None, event_type: str | None = None
) -> QuerySet[OutboxEvent]:
    """Must run inside tenant_scope."""
    events = OutboxEvent.objects.all()
    if correlation_id:
        events = events.filter(correlation_id=correlation_id)
    if event_type:
        events = events.filter(event_type=event_type)
    return events


def event_chain(event_id: uuid.UUID) -> dict[str, Any] | None:
    """Every event of the event's correlation, each with its parent (the event that caused it), as a tree.
    An event whose cause is not among them (a request, a job of another flow) is a root."""
    event = OutboxEvent.objects.filter(event_id=event_id).first()
    if event is None:
        return None
    if event.correlation_id:
        members = list(
            OutboxEvent.objects.filter(correlation_id=event.correlation_id).order_by("id")[:MAX_CHAIN_EVENTS]
        )
    else:
        members = [event]
    ids = {str(member.event_id) for member in members}
    nodes: dict[str, dict[str, Any]] = {}
    for member in members:
        parent = member.causation_id if member.causation_id in ids else None
        nodes[str(member.event_id)] = {
            "event": to_cloudevent(member),
            "parent_id": parent,
            "status": member.status,
            "children": [],
        }
    roots = []
    for node_id, node in nodes.items():
        parent_id = node["parent_id"]
        if parent_id and parent_id != node_id:
            nodes[parent_id]["children"].append(node)
        else:
            roots.append(node)
    return {"correlation_id": event.correlation_id, "count": len(nodes), "roots": roots}
