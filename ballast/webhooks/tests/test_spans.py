"""A webhook attempt's span (the SDK's in-memory exporter, this process): its outcome attributes, and its place in
the trace of the event that caused it, through the outbox relay and the attempt's job."""

from __future__ import annotations

import pytest
from django.db import transaction
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ballast.emails.tests.conftest import unused_port
from ballast.lib import telemetry
from ballast.outbox import relay
from ballast.outbox.services import emit
from ballast.tenants.models import Tenant
from ballast.webhooks.models import WebhookDelivery
from ballast.webhooks.tests.conftest import Receiver, Reply, make_endpoint, run_attempt

pytestmark = pytest.mark.usefixtures("private_networks")


def _named(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [span for span in spans.get_finished_spans() if span.name == name]
    return found


def _delivery_of_an_event(tenant: Tenant) -> tuple[WebhookDelivery, int, int]:
    """An event emitted under a span (as a handler emits one), relayed: its delivery, the span's trace and id."""
    with telemetry.span("test.cause") as cause, transaction.atomic():
        event = emit(tenant_id=tenant.pk, event_type="job.succeeded", target_type="job", target_id=1, payload={})
    relay.relay_until_idle()
    (delivery,) = WebhookDelivery.objects.unscoped().filter(tenant_id=tenant.pk, event_id=str(event.event_id))
    context = cause.get_span_context()
    return delivery, context.trace_id, context.span_id


def test_a_delivered_webhook_continues_the_trace_of_the_event_that_caused_it(
    tenant: Tenant, receiver: Receiver, spans: InMemorySpanExporter
) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    delivery, trace_id, cause_id = _delivery_of_an_event(tenant)

    run_attempt(delivery.pk, 1)

    deliver = _named(spans, "ballast.webhook.deliver")
    handler = _named(spans, "ballast.job webhooks.deliver")
    (enqueue,) = [
        span
        for span in spans.get_finished_spans()
        if span.name == "ballast.enqueue"
        and span.attributes
        and span.attributes["ballast.job.type"] == "webhooks.deliver"
    ]
    assert deliver.context and handler.context and enqueue.context
    assert deliver.context.trace_id == handler.context.trace_id == enqueue.context.trace_id == trace_id
    assert enqueue.parent is not None and enqueue.parent.span_id == cause_id  # the relay continued the event's
    assert handler.parent is not None and handler.parent.span_id == enqueue.context.span_id
    assert deliver.parent is not None and deliver.parent.span_id == handler.context.span_id
    assert deliver.kind == SpanKind.CLIENT and deliver.status.status_code == StatusCode.UNSET
    assert dict(deliver.attributes or {}) == {
        "ballast.webhook.delivery_id": delivery.pk,
        "ballast.webhook.endpoint_id": endpoint.pk,
        "ballast.attempt": 1,
        "ballast.webhook.outcome": "delivered",
        "http.response.status_code": 200,
    }


def test_a_refused_webhook_attempt_says_so_on_its_span(
    tenant: Tenant, receiver: Receiver, spans: InMemorySpanExporter
) -> None:
    receiver.answer(Reply(503))
    make_endpoint(tenant, receiver.url)
    delivery, _, _ = _delivery_of_an_event(tenant)

    run_attempt(delivery.pk, 1)

    span = _named(spans, "ballast.webhook.deliver")
    assert span.attributes and span.attributes["ballast.webhook.outcome"] == "rejected"
    assert span.attributes["http.response.status_code"] == 503
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "HTTP 503."


def test_an_unreachable_webhook_attempt_is_a_transport_error_on_its_span(
    tenant: Tenant, spans: InMemorySpanExporter
) -> None:
    make_endpoint(tenant, f"http://127.0.0.1:{unused_port()}/hooks")  # nobody listens there
    delivery, trace_id, _ = _delivery_of_an_event(tenant)

    run_attempt(delivery.pk, 1)

    span = _named(spans, "ballast.webhook.deliver")
    assert span.context and span.context.trace_id == trace_id
    assert span.attributes and span.attributes["ballast.webhook.outcome"] == "transport_error"
    assert "http.response.status_code" not in span.attributes
    assert span.status.status_code == StatusCode.ERROR and "refused" in str(span.status.description).lower()
