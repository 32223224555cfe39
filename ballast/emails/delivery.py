"""The worker side of a delivery: one attempt of the `email.send` job.

Runs inside the job's tenant_scope (app role, RLS), in the savepoint that also holds the job's
acknowledgement. Status writes go through emails.transitions and commit at once on the system alias.

Rules:
- A `sent` delivery is never sent again: re-running its job does nothing.
- The job payload carries the content hash; a row whose hash differs is refused (PermanentError).
- `sending` is committed before the backend is called. An attempt that finds `sending` knows the previous
  attempt died before recording its outcome: it records `unknown` (audited), then sends again with the same
  Message-ID. At least once, by decision: `sending` spans the whole SMTP conversation, most of which comes
  before the server accepts anything, so not resending would lose mail far more often than resending
  duplicates it, and a duplicate carries the same Message-ID that receivers deduplicate on.
- A live attempt holds a transaction-scoped advisory lock on the delivery from before `sending` until its
  transaction ends; another attempt that cannot take it retries later instead of declaring `unknown`.
- Server refusals: 5xx → `failed` and PermanentError; 4xx and unreachable → `pending`, the job retries (on
  its last attempt: `failed`). A broken conversation → `unknown`, the job retries.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections
from django.utils import timezone
from opentelemetry.trace import SpanKind

from ballast.emails import transitions, transport
from ballast.emails.models import DeliveryStatus as S
from ballast.emails.models import EmailDelivery
from ballast.jobs.models import Job
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.lib import metrics, telemetry

logger = logging.getLogger(__name__)

# Two-key advisory locks live apart from the one-key locks the jobs engine takes.
LOCK_SPACE = "ballast.emails.delivery"


class DeliveryBusy(Exception):
    """Another live attempt is sending this delivery right now; try again later."""


def lock_delivery(delivery_id: int, *, using: str = "default") -> bool:
    """Take the delivery's lock until the current transaction (the job's) ends; False if another holds it."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s), hashtext(%s))", [LOCK_SPACE, str(delivery_id)])
        return bool(cursor.fetchone()[0])


def _is_last_attempt(ctx: JobContext) -> bool:
    max_attempts = Job.objects.unscoped().filter(pk=ctx.job_id).values_list("max_attempts", flat=True).first()
    return max_attempts is not None and ctx.attempt >= max_attempts


def _result(delivery: EmailDelivery, *, sent: bool) -> dict[str, Any]:
    return {"delivery_id": delivery.pk, "status": delivery.status, "message_id": delivery.message_id, "sent": sent}


def deliver(ctx: JobContext, *, delivery_id: int, payload_hash: str) -> dict[str, Any]:
    """One attempt (rules in the module docstring). Must run inside the job's tenant_scope."""
    if not lock_delivery(delivery_id):
        raise DeliveryBusy(f"Email delivery {delivery_id} is being sent by another attempt")
    delivery = EmailDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise PermanentError(f"Email delivery {delivery_id} does not exist in this tenant")
    if delivery.payload_hash != payload_hash:
        raise PermanentError(
            f"Email delivery {delivery_id} has other content than this job was created for "
            f"(hash {delivery.payload_hash[:12]}…, job {payload_hash[:12]}…); refusing to send it"
        )
    if delivery.status == S.SENT:
        return _result(delivery, sent=False)
    if delivery.status == S.SENDING:
        error = "The previous attempt ended while sending; the server may have accepted the message"
        if not transitions.transition(
            delivery, target=S.UNKNOWN, values={"last_error": error}, trace_id=ctx.trace_id, audit={"error": error}
        ):
            raise DeliveryBusy(f"Email delivery {delivery_id} changed while this attempt read it")

    ctx.heartbeat()  # raises LeaseLost if this attempt no longer holds the job: send nothing then
    if not transitions.transition(delivery, target=S.SENDING, new_attempt=True, trace_id=ctx.trace_id):
        raise DeliveryBusy(f"Email delivery {delivery_id} changed while this attempt read it")
    try:
        with telemetry.span(
            "ballast.email.send",
            kind=SpanKind.CLIENT,
            **{"ballast.email.delivery_id": delivery.pk, "ballast.attempt": ctx.attempt},
        ) as span:
            try:
                provider_id = transport.transmit(delivery)
            except transport.NotAccepted as exc:
                span.set_attribute("ballast.email.outcome", exc.outcome)
                if exc.smtp_code is not None:
                    span.set_attribute("ballast.email.smtp_code", exc.smtp_code)
                raise
            except BaseException:
                span.set_attribute("ballast.email.outcome", "transport_error")
                raise
            span.set_attribute("ballast.email.outcome", "delivered")
    except transport.NotAccepted as exc:
        final = exc.permanent or _is_last_attempt(ctx)
        metrics.delivery(channel="email", outcome=exc.outcome)
        transitions.transition(
            delivery,
            target=S.FAILED if final else S.PENDING,
            values={"last_error": str(exc)},
            trace_id=ctx.trace_id,
            audit={"error": transitions.truncated(str(exc)), "smtp_code": exc.smtp_code},
        )
        if exc.permanent:
            raise PermanentError(str(exc)) from exc
        raise
    except Exception as exc:  # OutcomeUnknown, or the job's deadline striking mid-conversation
        reason = str(exc) if isinstance(exc, transport.OutcomeUnknown) else transport.describe(exc)
        error = f"The conversation with the server broke off: {reason}"
        metrics.delivery(channel="email", outcome="transport_error")
        transitions.transition(
            delivery,
            target=S.UNKNOWN,
            values={"last_error": error},
            trace_id=ctx.trace_id,
            audit={"error": transitions.truncated(error)},
        )
        raise
    if not transitions.transition(
        delivery,
        target=S.SENT,
        values={"sent_at": timezone.now(), "provider_message_id": provider_id, "last_error": ""},
        trace_id=ctx.trace_id,
        audit={"provider_message_id": provider_id},
    ):
        # Not retried: that would send it again. The row keeps what moved it; the log keeps this.
        logger.error("email delivery %s was accepted but its row had moved on; not recorded as sent", delivery.pk)
    metrics.delivery(channel="email", outcome="delivered")
    return _result(delivery, sent=True)
