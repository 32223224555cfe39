"""Reads of the outbox: a tenant's events, the causal tree of a correlation, and the slowest chains."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import connections
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


SLOW_CHAINS = """
SELECT tenant_id, correlation_id, count(*) AS events, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
    EXTRACT(EPOCH FROM max(occurred_at) - min(occurred_at)) * 1000 AS span_ms,
    (array_agg(event_type ORDER BY occurred_at, id))[1] AS first_type,
    (array_agg(event_type ORDER BY occurred_at DESC, id DESC))[1] AS last_type,
    array_agg(DISTINCT target_id) FILTER (WHERE target_type = 'job') AS job_ids
FROM outbox_outboxevent
WHERE created_at > now() - make_interval(secs => %(seconds)s) AND correlation_id <> ''
    AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY tenant_id, correlation_id
HAVING count(*) > 1
ORDER BY span_ms DESC, correlation_id
LIMIT %(limit)s
"""


def slow_chains(*, span: timedelta, tenant_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The correlations with events in the last `span` whose chains took longest, first event to last (every
    tenant's: the system alias). Each with its event count, first and last event types, and its jobs' ids."""
    with connections["system"].cursor() as cursor:
        cursor.execute(SLOW_CHAINS, {"seconds": span.total_seconds(), "tenant_id": tenant_id, "limit": limit})
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["span_ms"] = float(row["span_ms"])
        row["job_ids"] = sorted(int(job_id) for job_id in row["job_ids"] or [] if str(job_id).isdigit())
    return rows
