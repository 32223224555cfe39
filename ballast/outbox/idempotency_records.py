"""The stored Idempotency-Key records (the HTTP layer that writes them is api.idempotency): an operator's
invalidation. Retention drops whole daily partitions (ballast.lib.partitioned_tables), never DELETEs rows."""

from __future__ import annotations

from django.db import transaction

from ballast.outbox.models import IdempotencyRecord
from ballast.tenants import audit

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
