"""The relay's delivery job, and the outbox's periodic maintenance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs.context import JobContext, PermanentError
from jobs.maintenance import periodic, vacuum
from jobs.registry import job_handler
from outbox import partitions
from outbox.idempotency import delete_expired_records
from outbox.models import OutboxEvent
from outbox.relay import DELIVER_JOB
from outbox.subscribers import get_subscription


@job_handler(
    DELIVER_JOB,
    max_attempts=10,
    lifecycle_events=False,
    schema={
        "type": "object",
        "required": ["subscriber", "event_id"],
        "properties": {"subscriber": {"type": "string"}, "event_id": {"type": "string", "format": "uuid"}},
    },
)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one code subscriber for one event (once: the job's idempotency key is event id + subscriber)."""
    subscription = get_subscription(payload["subscriber"])
    if subscription is None:
        raise PermanentError(f"No subscriber {payload['subscriber']!r}")
    event = OutboxEvent.objects.filter(event_id=payload["event_id"]).first()
    if event is None:
        raise PermanentError(f"No event {payload['event_id']} (dropped by retention?)")
    subscription.func(event)
    return {"subscriber": subscription.name, "event_id": payload["event_id"]}


@periodic("outbox.partitions", every=timedelta(hours=1))
def maintain_partitions() -> None:
    """Partitions for this month and the next OUTBOX_PARTITIONS_AHEAD; drop those past retention."""
    partitions.ensure_partitions(months_ahead=settings.OUTBOX_PARTITIONS_AHEAD)
    cutoff = partitions.add_months(partitions.month_start(timezone.now().date()), -settings.OUTBOX_RETENTION_MONTHS)
    partitions.drop_partitions_before(cutoff)


@periodic("outbox.vacuum", every=timedelta(minutes=1))
def vacuum_hot_tables() -> None:
    """The month's outbox partition and the jobs table churn the most (see jobs.maintenance.vacuum)."""
    current = partitions.partition_name(partitions.month_start(timezone.now().date()))
    vacuum(["jobs_job", current, "outbox_idempotencyrecord"])


@periodic("outbox.idempotency_cleanup", every=timedelta(minutes=10))
def clean_idempotency_records() -> None:
    delete_expired_records()
