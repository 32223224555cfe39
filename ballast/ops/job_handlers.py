"""The ops app's periodic work (per-minute rollups, the alert rules: jobs on the maintenance queue, one per slot)
and its job type (bulk actions)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic
from ballast.jobs.worker.context import JobContext
from ballast.ops import alerts, bulk, idempotency_stats, rollups


@periodic("ops.rollups", every=timedelta(minutes=1))
def roll_up() -> None:
    rollups.roll_up()
    idempotency_stats.flush()


@periodic("ops.alerts", every=timedelta(minutes=1))
def evaluate_alerts() -> None:
    alerts.evaluate()


@job_handler(
    "ops.bulk",
    queue="maintenance",
    max_attempts=5,
    timeout=3600,
    atomic=False,
    schema={"type": "object", "required": ["bulk_id"], "properties": {"bulk_id": {"type": "integer"}}},
)
def run_bulk(ctx: JobContext, payload: dict[str, Any]) -> dict[str, int]:
    """One tenant's share of a confirmed bulk action, in batches; resumes after its last checkpoint."""
    start = int((ctx.last_checkpoint or {}).get("position", 0))
    position = bulk.run_batches(
        bulk_id=payload["bulk_id"],
        tenant_id=ctx.tenant_id,
        start=start,
        on_batch=lambda reached: ctx.checkpoint({"position": reached}),
    )
    return {"position": position}
