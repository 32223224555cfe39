"""The outbox, wired into the jobs engine: code subscribers' hand-off (a job per subscriber and event, registered
as an outbox sink), their delivery job, and the outbox's periodic maintenance. Imported by JobsConfig.ready."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic, vacuum
from ballast.jobs.scheduler.services import scheduler_service
from ballast.jobs.services import enqueue
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.outbox import partitions
from ballast.outbox.models import OutboxEvent
from ballast.outbox.relay import run_relay
from ballast.outbox.sinks import register_sink
from ballast.outbox.subscribers import get_subscription, subscriptions_for

DELIVER_JOB = "outbox.deliver"


def enqueue_subscriber_jobs(event: OutboxEvent) -> None:
    """The outbox sink of code subscribers: one job per matching subscriber, keyed event id + subscriber, so a
    redelivered event enqueues nothing new. Runs inside the relay's tenant_scope(event.tenant_id)."""
    for subscription in subscriptions_for(event.event_type):
        enqueue(
            tenant=event.tenant_id,
            job_type=DELIVER_JOB,
            payload={"subscriber": subscription.name, "event_id": str(event.event_id)},
            idempotency_key=f"{event.event_id}:{subscription.name}",
            correlation_id=event.correlation_id,
            causation_id=str(event.event_id),
        )


register_sink("jobs.subscribers", enqueue_subscriber_jobs)


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


# The outbox's partitions are kept with every other partitioned table's (lifecycle.maintenance).


@periodic("outbox.vacuum", every=timedelta(minutes=1), requires_owner=True)
def vacuum_hot_tables() -> None:
    """The month's outbox partition, today's idempotency records and the jobs table churn the most (see
    jobs.scheduler.periodic.vacuum). Expired idempotency records go with their day's partition (lifecycle)."""
    today = timezone.now().date()
    current = partitions.partition_name(partitions.month_start(today))
    vacuum(["jobs_job", current, partitions.IDEMPOTENCY_RECORDS.partition_name(today)])


# The relay is a service of every scheduler process (it runs until stopped): relays are safe side by side.
scheduler_service("outbox-relay")(run_relay)
