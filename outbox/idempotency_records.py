"""The stored Idempotency-Key records (the HTTP layer that writes them is api.idempotency): an operator's
invalidation and retention."""

from __future__ import annotations

from django.db import transaction

from outbox.models import IdempotencyRecord
from tenants import audit
from tenants.batched_delete import delete_in_batches

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
    return delete_in_batches(
        table="outbox_idempotencyrecord", where="expires_at < now()", using=SYSTEM, batch=batch, max_batches=max_batches
    )
