"""The emails app's job types and periodic maintenance (discovered at start-up by jobs.apps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ballast.emails.delivery import deliver
from ballast.emails.maintenance import mark_abandoned_sendings
from ballast.emails.services import SEND_JOB_TYPE
from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic
from ballast.jobs.worker.context import JobContext

SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "delivery_id": {"type": "integer", "minimum": 1},
        "payload_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
    "required": ["delivery_id", "payload_hash"],
    "additionalProperties": False,
}


# Inside a request (queue/process) one attempt gets 5 s, not EMAIL_TIMEOUT per SMTP step: a slow server's
# attempt times out there and is retried, as any attempt, by a worker or a later call.
@job_handler(SEND_JOB_TYPE, queue="email", timeout=120, schema=SEND_SCHEMA, job_class="email", sync_timeout=5)
def send(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one delivery at least once (emails.delivery). Retries: the email queue's policy (8, backoff to 1 h)."""
    return deliver(ctx, delivery_id=payload["delivery_id"], payload_hash=payload["payload_hash"])


@periodic("emails.abandoned_sending", every=timedelta(minutes=1), job_class="cleanup")
def abandoned_sending() -> None:
    mark_abandoned_sendings()
