"""The `webhooks.deliver` job type: one attempt of one delivery (webhooks.delivery)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext
from ballast.webhooks.delivery import JOB_TYPE, attempt_delivery, give_up_delivery


@job_handler(
    JOB_TYPE,
    queue="webhooks",  # its own queue: slow receivers cannot hold up other jobs
    # Engine retries repeat one attempt after an unexpected error (a bug, the database); HTTP failures do
    # not raise: the webhook schedule enqueues the next attempt as a new job.
    max_attempts=3,
    # The HTTP exchange has its own deadline (WEBHOOK_TIMEOUT_SECONDS); DNS and the database get the slack.
    timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS) + 30,
    schema={
        "type": "object",
        "required": ["delivery_id", "attempt"],
        "properties": {
            "delivery_id": {"type": "integer", "minimum": 1},
            "attempt": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    },
    # Its own job.* events would be relayed to the endpoints subscribed to job.* or *: a loop without end.
    lifecycle_events=False,
    # The engine gave up on the attempt (a bug, the database, a worker dying every time): the delivery fails
    # with it instead of staying pending forever.
    on_dead_letter=give_up_delivery,
)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    return attempt_delivery(delivery_id=int(payload["delivery_id"]), attempt=int(payload["attempt"]))
