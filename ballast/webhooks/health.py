"""Endpoint health: the failure streak, and disabling an endpoint (with its audit entry).

Health is a fact about the receiver (an HTTP request was made and failed), so it is written through the
system alias in its own short transaction, committed at once: it holds the endpoint row only for a
statement or two (deliveries to one endpoint do not queue behind each other's open handler
transactions), and it stays true even if the attempt's job acknowledgement is later rolled back.
Never call these while the current transaction holds a lock on the endpoint row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.webhooks.models import WebhookEndpoint

SYSTEM = "system"
# An endpoint whose current failure streak began this long ago is disabled at its next failure.
FAILING_WINDOW = timedelta(days=5)

Reason = WebhookEndpoint.DisabledReason


def record_success(*, endpoint_id: int) -> None:
    """Ends the failure streak. A healthy endpoint's row is not written at all."""
    WebhookEndpoint.objects.unscoped(SYSTEM).filter(pk=endpoint_id).exclude(
        consecutive_failures=0, failing_since__isnull=True
    ).update(consecutive_failures=0, failing_since=None)


def record_failure(*, endpoint_id: int, now: datetime | None = None, error: str = "") -> bool:
    """Counts a failed attempt; True when it disabled the endpoint (streak begun FAILING_WINDOW ago or more)."""
    now = now or timezone.now()
    with transaction.atomic(using=SYSTEM):
        endpoints = WebhookEndpoint.objects.unscoped(SYSTEM).filter(pk=endpoint_id)
        endpoints.update(
            consecutive_failures=F("consecutive_failures") + 1,
            failing_since=Coalesce(F("failing_since"), Value(now, output_field=models.DateTimeField())),
        )
        row = endpoints.values("tenant_id", "enabled", "failing_since", "consecutive_failures").first()
        if row is None or not row["enabled"] or now - row["failing_since"] < FAILING_WINDOW:
            return False
        return disable(
            endpoint_id=endpoint_id,
            tenant_id=row["tenant_id"],
            reason=Reason.FAILING,
            now=now,
            data={
                "failing_since": row["failing_since"].isoformat(),
                "consecutive_failures": row["consecutive_failures"],
                "last_error": error[:500],
            },
        )


def disable(
    *,
    endpoint_id: int,
    tenant_id: int,
    reason: str,
    now: datetime | None = None,
    data: dict[str, Any] | None = None,
    actor: str = SYSTEM_ACTOR,
) -> bool:
    """Disables an enabled endpoint and says so in the tenant's audit log; False if it already was."""
    now = now or timezone.now()
    with transaction.atomic(using=SYSTEM):
        changed = (
            WebhookEndpoint.objects.unscoped(SYSTEM)
            .filter(pk=endpoint_id, tenant_id=tenant_id, enabled=True)
            .update(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        )
        if changed:
            record(
                tenant_id=tenant_id,
                actor=actor,
                action="webhook.endpoint_disabled",
                target_type="webhook_endpoint",
                target_id=endpoint_id,
                data={"reason": reason, **(data or {})},
                using=SYSTEM,
            )
    return bool(changed)
