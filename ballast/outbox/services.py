"""Emitting domain events into the outbox, in the caller's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone

from ballast.lib import tracing
from ballast.outbox.models import OutboxEvent
from ballast.tenants.audit import SYSTEM_ACTOR
from ballast.tenants.context import tenant_scope

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


# Each column of a new event and its SQL; "%s" takes the value _values() gives it. next_attempt_at is the
# database's time, since the relay compares it with now().
_COLUMN_SQL = (
    ("tenant_id", "%s"),
    ("event_id", "%s"),
    ("event_type", "%s"),
    ("actor", "%s"),
    ("target_type", "%s"),
    ("target_id", "%s"),
    ("occurred_at", "%s"),
    ("version", "%s"),
    ("payload", "%s::jsonb"),
    ("correlation_id", "%s"),
    ("causation_id", "%s"),
    ("traceparent", "%s"),
    ("created_at", "%s"),
    ("status", "'pending'"),
    ("attempts", "0"),
    ("next_attempt_at", "now()"),
    ("last_error", "''"),
)
COLUMNS = ", ".join(name for name, _sql in _COLUMN_SQL)
ROW_PLACEHOLDERS = "(" + ", ".join(sql for _name, sql in _COLUMN_SQL) + ")"


def _values(event: NewEvent, now: datetime) -> dict[str, Any]:
    context = tracing.current()
    return {
        "tenant_id": event.tenant_id,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "actor": event.actor,
        "target_type": event.target_type,
        "target_id": str(event.target_id),
        "occurred_at": event.occurred_at or now,
        "version": event.version,
        "payload": json.dumps(event.payload, default=str),
        "correlation_id": event.correlation_id or context.correlation_id,
        "causation_id": event.causation_id or context.causation_id,
        "traceparent": event.traceparent or context.traceparent,
        "created_at": now,
    }


def row_params(event: NewEvent, now: datetime) -> list[Any]:
    """The parameters of one ROW_PLACEHOLDERS."""
    values = _values(event, now)
    return [values[name] for name, sql in _COLUMN_SQL if "%s" in sql]


def insert_from_cte_sql(
    template: NewEvent,
    *,
    cte: str,
    expressions: Mapping[str, str],
    now: datetime | None = None,
    named: str | None = None,
) -> tuple[str, Any]:
    """An INSERT of one event per row of `cte` (a CTE of the caller's statement), as SQL and parameters, for the
    caller to run as a data-modifying CTE of its own statement; the caller NOTIFYs NOTIFY_CHANNEL.

    Each column takes the template's value, or the SQL expression over the CTE's columns that `expressions`
    gives it (`{"target_id": "id::text"}`); a "payload" expression (jsonb) is merged with the template's
    payload: expression || template.payload. Give "event_id" an expression when the CTE has several rows.
    Parameters are positional (a list), or named `%(<named>_<column>)s` (a dict) for statements that use
    named parameters."""
    unknown = set(expressions) - {name for name, _sql in _COLUMN_SQL}
    if unknown:
        raise ValueError(f"Not columns of an outbox event: {sorted(unknown)}")
    values = _values(template, now or timezone.now())
    select: list[str] = []
    params: list[Any] = []
    named_params: dict[str, Any] = {}
    for name, sql in _COLUMN_SQL:
        expression = expressions.get(name)
        if expression is not None and name != "payload":
            select.append(expression)
            continue
        if "%s" in sql:
            if named:
                sql = sql.replace("%s", f"%({named}_{name})s")
                named_params[f"{named}_{name}"] = values[name]
            else:
                params.append(values[name])
        if expression is not None:
            sql = f"({expression}) || {sql}"
        select.append(sql)
    insert = f"INSERT INTO outbox_outboxevent ({COLUMNS}) SELECT {', '.join(select)} FROM {cte}"  # noqa: S608
    return insert, (named_params if named else params)


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
