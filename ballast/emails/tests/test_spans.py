"""An email.send attempt's span (the SDK's in-memory exporter, this process): its outcome attributes, and its place
in the trace of whatever sent the email, through the email.send job, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ballast.emails.models import EmailDelivery
from ballast.emails.tests.conftest import Mailbox, new_delivery, run_job, unused_port
from ballast.lib import telemetry
from ballast.tenants.models import Tenant


def _named(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [span for span in spans.get_finished_spans() if span.name == name]
    return found


def _sent_under_a_span(tenant: Tenant) -> tuple[EmailDelivery, int, int]:
    with telemetry.span("test.cause") as cause:
        delivery = new_delivery(tenant)
    run_job(tenant.pk, delivery.job_id)
    return delivery, cause.get_span_context().trace_id, cause.get_span_context().span_id


def test_a_sent_email_continues_the_trace_of_the_job_that_sent_it(
    tenant: Tenant, smtp: Mailbox, spans: InMemorySpanExporter
) -> None:
    delivery, trace_id, cause_id = _sent_under_a_span(tenant)

    send = _named(spans, "ballast.email.send")
    handler = _named(spans, "ballast.job email.send")
    enqueue = _named(spans, "ballast.enqueue")
    assert len(smtp.accepted) == 1
    assert send.context and handler.context and enqueue.context
    assert send.context.trace_id == handler.context.trace_id == enqueue.context.trace_id == trace_id
    assert enqueue.parent is not None and enqueue.parent.span_id == cause_id
    assert handler.parent is not None and handler.parent.span_id == enqueue.context.span_id
    assert send.parent is not None and send.parent.span_id == handler.context.span_id
    assert send.kind == SpanKind.CLIENT and send.status.status_code == StatusCode.UNSET
    assert dict(send.attributes or {}) == {
        "ballast.email.delivery_id": delivery.pk,
        "ballast.attempt": 1,
        "ballast.email.outcome": "delivered",
    }
    assert handler.attributes and handler.attributes["ballast.job.outcome"] == "succeeded"


def test_a_refused_email_carries_the_smtp_code_on_its_span(
    tenant: Tenant, smtp: Mailbox, spans: InMemorySpanExporter
) -> None:
    smtp.rcpt_replies = ["550 5.1.1 No such user"]
    _sent_under_a_span(tenant)

    send = _named(spans, "ballast.email.send")
    assert send.attributes and send.attributes["ballast.email.outcome"] == "rejected"
    assert send.attributes["ballast.email.smtp_code"] == 550
    assert send.status.status_code == StatusCode.ERROR


def test_an_unreachable_smtp_server_is_a_transport_error_on_the_span(
    tenant: Tenant, smtp: Mailbox, spans: InMemorySpanExporter, settings: Any
) -> None:
    settings.EMAIL_PORT = unused_port()  # nobody listens there
    _, trace_id, _ = _sent_under_a_span(tenant)

    send = _named(spans, "ballast.email.send")
    assert send.context and send.context.trace_id == trace_id
    assert send.attributes and send.attributes["ballast.email.outcome"] == "transport_error"
    assert "ballast.email.smtp_code" not in send.attributes
    assert send.status.status_code == StatusCode.ERROR
    handler = _named(spans, "ballast.job email.send")
    assert handler.attributes and handler.attributes["ballast.job.outcome"] == "retry"
