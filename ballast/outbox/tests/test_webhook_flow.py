"""End to end: a job succeeds, the relay hands its event to a webhook endpoint, the receiver gets it signed."""

from __future__ import annotations

import json

from django.db import transaction
from standardwebhooks.webhooks import Webhook

from ballast.jobs.services import enqueue
from ballast.outbox import relay
from ballast.outbox.tests.helpers import events, run_pending_jobs
from ballast.tenants.models import Tenant
from ballast.webhooks.tests.conftest import Receiver, make_endpoint


def test_a_succeeded_job_reaches_a_webhook_receiver_signed(
    tenant: Tenant, receiver: Receiver, private_networks: None
) -> None:
    _endpoint, secret = make_endpoint(tenant, receiver.url, ["job.succeeded"])
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": "hi"}, correlation_id="flow-w")

    run_pending_jobs("diagnostics.echo")
    relay.relay_until_idle()
    run_pending_jobs("webhooks.deliver")

    (request,) = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    Webhook(secret).verify(request.body, headers)  # raises unless the signature is valid
    body = json.loads(request.body)
    (succeeded,) = events(event_type="job.succeeded")
    assert body["type"] == "job.succeeded" and body["id"] == str(succeeded.event_id)
    assert body["data"]["job_id"] == job.pk and body["correlationid"] == "flow-w"
    assert headers["webhook-id"] == f"msg_{succeeded.event_id}"
    # The delivery job announced nothing: no job.* event about it, so no loop through the relay.
    assert {e.event_type for e in events()} == {"job.created", "job.succeeded"}
    assert {e.status for e in events()} == {"delivered"}
