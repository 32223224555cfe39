"""Emitting domain events into the outbox, in the caller's transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone

from outbox import tracing
from outbox.models import OutboxEvent
from tenants.audit import SYSTEM_ACTOR
from tenants.context import tenant_scope

NOTIFY_CHANNEL = "ballast_outbox"


class OutsideTransaction(RuntimeError):
    """emit() needs the business transaction: an event must commit or roll back with its change."""


@dataclass(frozen=True)
class NewEvent:
    """An event to insert; `event_id` is fresh unless the caller names one (then emit is idempotent)."""

    tenant_id: int
    event_type: str
    target_type: str
    target_id: str
    payload: Any = field(default_factory=dict)
    actor: str = SYSTEM_ACTOR
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    correlation_id: str = ""
    causation_id: str = ""
    traceparent: str = ""
    version: int = 1
    occurred_at: datetime | None = None


COLUMNS = (
    "tenant_id, event_id, event_type, actor, target_type, target_id, occurred_at, version, payload, "
    "correlation_id, causation_id, traceparent, created_at, status, attempts, next_attempt_at, last_error"
)
ROW_PLACEHOLDERS = "(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, 'pending', 0, %s, '')"


def row_params(event: NewEvent, now: datetime) -> list[Any]:
    context = tracing.current()
    return [
        event.tenant_id,
        event.event_id,
        event.event_type,
        event.actor,
        event.target_type,
        str(event.target_id),
        event.occurred_at or now,
        event.version,
        json.dumps(event.payload, default=str),
        event.correlation_id or context.correlation_id,
        event.causation_id or context.causation_id,
        event.traceparent or context.traceparent,
        now,
        now,
    ]


def insert_events(events: list[NewEvent], *, using: str = "default") -> None:
    """Insert fresh events in one statement and wake the relay at commit (NOTIFY is transactional).
    Must run inside the caller's transaction (and tenant_scope on the app alias)."""
    if not events:
        return
    now = timezone.now()
    params: list[Any] = []
    for event in events:
        params += row_params(event, now)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO outbox_outboxevent ({COLUMNS}) VALUES "  # noqa: S608 (constant columns)
            + ", ".join([ROW_PLACEHOLDERS] * len(events)),
            params,
        )
        cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


def emit(
    *,
    tenant_id: int,
    event_type: str,
    target_type: str,
    target_id: object,
    payload: Any = None,
    actor: str = SYSTEM_ACTOR,
    event_id: uuid.UUID | str | None = None,
    correlation_id: str = "",
    causation_id: str = "",
    traceparent: str = "",
    version: int = 1,
) -> OutboxEvent:
    """Write one event in the caller's transaction. Emitting twice with the same event_id stores one
    event and returns it. Raises OutsideTransaction when there is no transaction to join."""
    if not connections["default"].in_atomic_block:
        raise OutsideTransaction("emit() must run inside the transaction of the change it describes")
    new = NewEvent(
        tenant_id=tenant_id,
        event_type=event_type,
        target_type=target_type,
        target_id=str(target_id),
        payload=payload if payload is not None else {},
        actor=actor,
        event_id=uuid.UUID(str(event_id)) if event_id else uuid.uuid4(),
        correlation_id=correlation_id,
        causation_id=causation_id,
        traceparent=traceparent,
        version=version,
    )
    with tenant_scope(tenant_id):
        if event_id:
            # The partitioned table cannot hold a unique index on event_id alone: serialise on it instead.
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [str(new.event_id)])
            existing = OutboxEvent.objects.filter(event_id=new.event_id).first()
            if existing is not None:
                return existing
        insert_events([new])
        return OutboxEvent.objects.get(event_id=new.event_id)
