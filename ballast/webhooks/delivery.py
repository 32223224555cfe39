"""One attempt of one delivery: what the `webhooks.deliver` job does.

Each attempt is its own job, `{"delivery_id", "attempt"}` with the idempotency key
`webhook:<delivery id>:<attempt>`. A failed HTTP attempt does not raise: the handler records it on the
delivery row and enqueues the next attempt's job with `run_at` = the webhook schedule (or Retry-After),
in the handler's transaction, so the delivery's progress, the next job and the acknowledgement of this
one commit together or not at all. The engine's own retries (the job raised: a bug, the database) repeat
the same attempt number. The HTTP request runs while the handler's transaction is open, holding the
delivery row (FOR UPDATE) so a second run of the same attempt waits, then finds it done and skips.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from opentelemetry.trace import SpanKind, StatusCode

from ballast.jobs.models import Job
from ballast.jobs.services import enqueue
from ballast.lib import metrics, telemetry
from ballast.webhooks import health, schedule, signing, ssrf, transport
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint

JOB_TYPE = "webhooks.deliver"
# application/json, not application/cloudevents+json: every receiver framework parses it and Standard
# Webhooks libraries expect it; the body is still a complete CloudEvents 1.0 structured event.
CONTENT_TYPE = "application/json"
RESPONSE_EXCERPT_BYTES = 1024
MAX_ERROR_CHARS = 2000

Status = WebhookDelivery.Status


def job_key(delivery_id: int, attempt: int) -> str:
    return f"webhook:{delivery_id}:{attempt}"


def enqueue_attempt(delivery: WebhookDelivery, attempt: int, *, run_at: datetime | None = None) -> Job:
    """The job of attempt number `attempt`, in the caller's transaction. Safe to call twice."""
    return enqueue(
        tenant=delivery.tenant_id,
        job_type=JOB_TYPE,
        payload={"delivery_id": delivery.pk, "attempt": attempt},
        idempotency_key=job_key(delivery.pk, attempt),
        run_at=run_at,
    )


@dataclass(frozen=True)
class Exchange:
    """What one POST produced: a response status, or an error without one."""

    status: int | None = None
    excerpt: str = ""
    retry_after: str | None = None
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _text(raw: bytes | str, limit: int = MAX_ERROR_CHARS) -> str:
    """Storable text: invalid UTF-8 and NUL (Postgres text cannot hold it) become U+FFFD; a character cut
    by the excerpt's end is dropped, not mangled."""
    if isinstance(raw, bytes):
        raw = codecs.getincrementaldecoder("utf-8")("replace").decode(raw, final=False)
    return raw.replace("\x00", "\ufffd")[:limit]


def post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Exchange:
    """Vet the URL again (DNS may have changed since creation), sign, POST to the vetted address."""
    try:
        target = ssrf.vet_url(endpoint.url)
    except ssrf.UnsafeURL as exc:
        return Exchange(error=f"Refused before sending: {exc}")
    headers = {
        "Content-Type": CONTENT_TYPE,
        **signing.signed_headers(
            secret=endpoint.secret, msg_id=delivery.webhook_id, timestamp=int(time.time()), body=delivery.body
        ),
    }
    try:
        response = transport.post(
            target,
            body=delivery.body.encode(),
            headers=headers,
            timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
            excerpt_bytes=RESPONSE_EXCERPT_BYTES,
        )
    except transport.TransportError as exc:
        return Exchange(error=str(exc))
    error = ""
    if 300 <= response.status < 400:
        error = f"HTTP {response.status}: redirects are not followed (Location: {response.location or 'none'})."
    elif not 200 <= response.status < 300:
        error = f"HTTP {response.status}."
    return Exchange(
        status=response.status,
        excerpt=_text(response.excerpt, RESPONSE_EXCERPT_BYTES),
        retry_after=response.retry_after,
        error=error,
    )


def _metric_outcome(exchange: Exchange) -> str:
    if exchange.succeeded:
        return "delivered"
    return "transport_error" if exchange.status is None else "rejected"


def _skipped(delivery_id: int, attempt: int, reason: str) -> dict[str, Any]:
    return {"delivery_id": delivery_id, "attempt": attempt, "outcome": "skipped", "reason": reason}


def attempt_delivery(*, delivery_id: int, attempt: int) -> dict[str, Any]:
    """Make attempt number `attempt` of a delivery and schedule what follows; the job's result.
    Must run inside tenant_scope (the job handler's). A stale or repeated attempt is skipped."""
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return _skipped(delivery_id, attempt, "The delivery no longer exists (its endpoint was deleted).")
    if delivery.status != Status.PENDING or delivery.attempts != attempt - 1:
        return _skipped(delivery_id, attempt, f"Already done: {delivery.status} after {delivery.attempts} attempts.")
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        delivery.status = Status.CANCELLED
        delivery.next_attempt_at = None
        delivery.last_error = f"The endpoint was disabled ({endpoint.disabled_reason or 'manual'}) before delivery."
        delivery.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
        metrics.delivery(channel="webhook", outcome="cancelled")
        return {"delivery_id": delivery_id, "attempt": attempt, "outcome": "cancelled", "error": delivery.last_error}

    started = timezone.now()
    with telemetry.span(
        "ballast.webhook.deliver",
        kind=SpanKind.CLIENT,
        **{
            "ballast.webhook.delivery_id": delivery_id,
            "ballast.webhook.endpoint_id": endpoint.pk,
            "ballast.attempt": attempt,
        },
    ) as span:
        exchange = post(endpoint, delivery)
        span.set_attribute("ballast.webhook.outcome", _metric_outcome(exchange))
        if exchange.status is not None:
            span.set_attribute("http.response.status_code", exchange.status)
        if not exchange.succeeded:
            span.set_status(StatusCode.ERROR, exchange.error)
    finished = timezone.now()
    error = exchange.error
    next_at: datetime | None = None
    if exchange.succeeded:
        status = Status.SUCCEEDED
        health.record_success(endpoint_id=endpoint.pk)
    elif exchange.status == 410:
        status = Status.FAILED
        error = "HTTP 410 Gone: the endpoint is disabled."
        health.disable(
            endpoint_id=endpoint.pk,
            tenant_id=endpoint.tenant_id,
            reason=WebhookEndpoint.DisabledReason.GONE,
            data={"delivery_id": delivery.pk},
        )
    elif health.record_failure(endpoint_id=endpoint.pk, now=finished, error=error):
        status = Status.FAILED
        error += f" The endpoint failed for {health.FAILING_WINDOW.days} days and is disabled."
    else:
        next_at = schedule.next_attempt_at(attempt, now=finished, retry_after=exchange.retry_after)
        if next_at is None:
            status = Status.FAILED
            error += f" Gave up after {attempt} attempts."
        else:
            status = Status.PENDING
            enqueue_attempt(delivery, attempt + 1, run_at=next_at)

    delivery.status = status
    delivery.attempts = attempt
    delivery.last_attempt_at = started
    delivery.next_attempt_at = next_at
    delivery.response_status = exchange.status
    delivery.response_excerpt = exchange.excerpt
    delivery.last_error = _text(error.strip())
    if status == Status.SUCCEEDED:
        delivery.delivered_at = finished
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "response_status",
            "response_excerpt",
            "last_error",
            "delivered_at",
            "updated_at",
        ]
    )
    metrics.delivery(channel="webhook", outcome=_metric_outcome(exchange))
    return {
        "delivery_id": delivery_id,
        "attempt": attempt,
        "outcome": "retry_scheduled" if status == Status.PENDING else str(status),
        "response_status": exchange.status,
        "error": delivery.last_error,
        "next_attempt_at": next_at.isoformat() if next_at else None,
        "duration_ms": int((finished - started).total_seconds() * 1000),
    }


def give_up_delivery(*, tenant_id: int, payload: dict[str, Any], error: str, using: str) -> None:
    """The attempt's job was dead-lettered: the delivery, if that attempt is still its next, is failed.
    Runs in the dead-lettering transaction (jobs.worker.complete)."""
    WebhookDelivery.objects.unscoped(using).filter(
        tenant_id=tenant_id,
        pk=int(payload["delivery_id"]),
        status=Status.PENDING,
        attempts=int(payload["attempt"]) - 1,
    ).update(
        status=Status.FAILED,
        next_attempt_at=None,
        last_error=_text(f"The attempt's job was dead-lettered: {error}"),
        updated_at=timezone.now(),
    )
