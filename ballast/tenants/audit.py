"""The audit trail every write service appends to, in the same transaction as the write.

Action names are registered in one place per app: its `audit_actions.py` calls `register_actions({...})`
(TenantsConfig.ready imports every installed app's). `record()` refuses a name nobody registered, so a
typo cannot scatter an operator's actions under a name no query looks for.
"""

from __future__ import annotations

import getpass
import re
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ballast.tenants.models import AuditEntry, OperatorAction

SYSTEM_ACTOR = "system"
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_TARGET_ID = 100

_actions: dict[str, str] = {}
_trace_id_source: Callable[[], str] = str  # "" until an app that knows the trace registers its source


class UnregisteredAuditAction(ValueError):
    """record() was given an action name that no app registered."""


def register_actions(actions: Mapping[str, str]) -> None:
    """{"app.verb": "what it means"}. Safe to call twice with the same names."""
    for name in actions:
        if not ACTION_NAME.match(name):
            raise ValueError(f"Audit action {name!r} must look like 'app.verb' (lowercase, dot-separated)")
    _actions.update(actions)


def registered_actions() -> Mapping[str, str]:
    return MappingProxyType(_actions)


def trace_ids_from(source: Callable[[], str]) -> None:
    """Where record() takes the trace id of the current request or job when the caller gives none."""
    global _trace_id_source
    _trace_id_source = source


def _checked(action: str) -> str:
    if action not in _actions:
        raise UnregisteredAuditAction(
            f"Audit action {action!r} is not registered: add it to your app's audit_actions.py (register_actions)."
        )
    return action


def record(
    *,
    tenant_id: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    trace_id: str | None = None,
    data: dict[str, Any] | None = None,
    using: str = "default",
) -> None:
    """Append one entry. On the app alias it must run inside tenant_scope (RLS checks the tenant).
    The trace id defaults to the current request's or job's."""
    AuditEntry.objects.unscoped(using).create(
        tenant_id=tenant_id,
        actor=actor,
        action=_checked(action),
        target_type=target_type,
        target_id=str(target_id)[:MAX_TARGET_ID],
        trace_id=_trace_id_source() if trace_id is None else trace_id,
        data=data or {},
    )


def record_many(rows: list[dict[str, Any]], *, using: str = "default") -> None:
    """Several entries in one INSERT (hot paths: enqueue batches, dead-lettering)."""
    if not rows:
        return
    for row in rows:
        _checked(row["action"])
    AuditEntry.objects.unscoped(using).bulk_create([AuditEntry(**row) for row in rows])


def record_operator_action(
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    tenant_id: int | None = None,
    trace_id: str | None = None,
    data: dict[str, Any] | None = None,
    using: str = "system",
) -> str:
    """The operator log's row of one action, in the caller's transaction on the system alias (the app role has
    no right on the operator log); returns its trace id (the current request's or job's, or a new one)."""
    trace_id = trace_id or _trace_id_source() or uuid.uuid4().hex
    OperatorAction.objects.using(using).create(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        tenant_id=tenant_id,
        trace_id=trace_id,
        data=data or {},
    )
    return trace_id


def actor_for_user(user: Any) -> str:
    return f"user:{user.get_username()}" if user is not None else SYSTEM_ACTOR


def actor_for_command(command: str) -> str:
    """Who ran a management command: the operating-system user (operators log in as themselves)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"cli:{who}:{command}"
