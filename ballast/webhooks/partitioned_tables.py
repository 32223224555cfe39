"""The webhooks app's partitioned table: deliveries, by month of their event."""

from __future__ import annotations

from ballast.lib.partitioned_tables import HighVolumeTable, days, register
from ballast.lib.partitioning import RangePartitioned

# A month of webhook deliveries is kept while a delivery in it is pending: its next attempt is scheduled (the
# schedule spans about a day; Retry-After can stretch it), and dropping it would lose the delivery. Found through
# the partial index webhookdelivery_pending.
_PENDING_WEBHOOK_DELIVERY = "SELECT 1 FROM {partition} WHERE status = 'pending' LIMIT 1"

register(
    HighVolumeTable(
        RangePartitioned("webhooks_webhookdelivery", "event_created_at", "month"),
        "RETENTION_WEBHOOK_DELIVERIES_DAYS",
        days("RETENTION_WEBHOOK_DELIVERIES_DAYS"),
        keep_if=_PENDING_WEBHOOK_DELIVERY,
        keep_reason="holds a pending webhook delivery",
    )
)
