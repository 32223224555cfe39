"""The stored Idempotency-Key records (the HTTP layer that writes them is api.idempotency): an operator's
invalidation and retention."""

from __future__ import annotations

from django.db import connections, transaction

from outbox.models import IdempotencyRecord
from tenants import audit

SYSTEM = "system"


def invalidate(*, tenant_id: int, key: str, token_id: int | None = None, actor: str = audit.SYSTEM_ACTOR) -> int:
    """Operator action: forget a key (of one credential, or of all the tenant's), so it executes anew. Audited."""
    records = IdempotencyRecord.objects.unscoped(SYSTEM).filter(tenant_id=tenant_id, key=key)
    if token_id is not None:
        records = records.filter(token_id=token_id)
    with transaction.atomic(using=SYSTEM):
        deleted, _ = records.delete()
        audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="idempotency.key_invalidated",
            target_type="idempotency_key",
            target_id=key,
            data={"key": key, "token_id": token_id, "records": deleted},
            using=SYSTEM,
        )
    return deleted


def delete_expired_records(*, batch: int = 1000, max_batches: int = 100) -> int:
    """Bounded deletes of expired records (the table is small: one row per key for 24 hours)."""
    total = 0
    for _ in range(max_batches):
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                "DELETE FROM outbox_idempotencyrecord WHERE id IN (SELECT id FROM outbox_idempotencyrecord "
                "WHERE expires_at < now() LIMIT %s)",
                [batch],
            )
            total += cursor.rowcount
            if cursor.rowcount < batch:
                break
    return total
