"""Code subscribers' hand-off: the outbox sink (registered by JobsConfig.ready) that turns each relayed event
into one job per matching subscriber (outbox.deliver, ballast.jobs.job_handlers)."""

from __future__ import annotations

from ballast.jobs.services import enqueue
from ballast.outbox.models import OutboxEvent
from ballast.outbox.subscribers import subscriptions_for

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
