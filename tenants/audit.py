"""The audit trail every write service appends to, in the same transaction as the write."""

from __future__ import annotations

from typing import Any

from tenants.models import AuditEntry

SYSTEM_ACTOR = "system"


def record(
    *,
    tenant_id: int,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    trace_id: str = "",
    data: dict[str, Any] | None = None,
    using: str = "default",
) -> None:
    """Append one entry. On the app alias it must run inside tenant_scope (RLS checks the tenant)."""
    AuditEntry.objects.unscoped(using).create(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        trace_id=trace_id,
        data=data or {},
    )


def record_many(rows: list[dict[str, Any]], *, using: str = "default") -> None:
    """Several entries in one INSERT (hot paths: enqueue batches, dead-lettering)."""
    if not rows:
        return
    AuditEntry.objects.unscoped(using).bulk_create([AuditEntry(**row) for row in rows])


def actor_for_user(user: Any) -> str:
    return f"user:{user.get_username()}" if user is not None else SYSTEM_ACTOR
