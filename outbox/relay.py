"""The outbox relay: hands every pending event to its subscribers, at least once, in order per aggregate.

- Only the oldest pending event of an aggregate (tenant, target_type, target_id) is a candidate, and
  candidates are locked FOR UPDATE SKIP LOCKED: two relays never take the same event, and an aggregate's
  later event never goes before its earlier one, even while the earlier one waits for a retry.
- The hand-off (a job per code subscriber, a delivery per webhook endpoint) is written in the same
  transaction that marks the event delivered: a relay killed before its commit leaves the event pending,
  and a repeated hand-off is absorbed by idempotency keys.
- A failed hand-off retries only the delivery (attempts, backoff); after OUTBOX_MAX_ATTEMPTS the event is
  marked failed, which releases its aggregate.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from jobs.backoff import full_jitter
from jobs.services import enqueue
from outbox.envelope import to_cloudevent
from outbox.models import OutboxEvent
from outbox.services import NOTIFY_CHANNEL
from outbox.subscribers import subscriptions_for
from tenants.context import tenant_scope
from tenants.db_roles import dedicated_connection
from webhooks.services import fan_out

logger = logging.getLogger(__name__)

SYSTEM = "system"
DELIVER_JOB = "outbox.deliver"

_HEADS = """
SELECT e.id, e.tenant_id FROM outbox_outboxevent e
WHERE e.status = 'pending' AND e.next_attempt_at <= now()
  AND NOT EXISTS (
    SELECT 1 FROM outbox_outboxevent p
    WHERE p.status = 'pending' AND p.tenant_id = e.tenant_id AND p.target_type = e.target_type
      AND p.target_id = e.target_id AND p.id < e.id)
ORDER BY e.id LIMIT %s
"""


@dataclass
class RelayReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed


def hand_off(event: OutboxEvent) -> None:
    """Subscribers' jobs and webhook deliveries for one event. Runs inside tenant_scope(event.tenant_id)."""
    for subscription in subscriptions_for(event.event_type):
        enqueue(
            tenant=event.tenant_id,
            job_type=DELIVER_JOB,
            payload={"subscriber": subscription.name, "event_id": str(event.event_id)},
            idempotency_key=f"{event.event_id}:{subscription.name}",
            correlation_id=event.correlation_id,
            causation_id=str(event.event_id),
        )
    fan_out(tenant_id=event.tenant_id, event_id=event.event_id, event_type=event.event_type, body=to_cloudevent(event))


def _deliver_tenant(tenant_id: int, event_ids: list[int], report: RelayReport) -> None:
    with tenant_scope(tenant_id):
        events = list(
            OutboxEvent.objects.filter(pk__in=event_ids, status=OutboxEvent.Status.PENDING)
            .order_by("id")
            .select_for_update(skip_locked=True)
        )
        delivered: list[int] = []
        for event in events:
            try:
                with transaction.atomic():  # a savepoint: a failed hand-off leaves nothing behind
                    hand_off(event)
                delivered.append(event.pk)
            except Exception as exc:
                logger.exception("outbox hand-off of %s failed", event.event_id)
                attempts = event.attempts + 1
                gave_up = attempts >= settings.OUTBOX_MAX_ATTEMPTS
                OutboxEvent.objects.filter(pk=event.pk).update(
                    attempts=attempts,
                    status=OutboxEvent.Status.FAILED if gave_up else OutboxEvent.Status.PENDING,
                    next_attempt_at=timezone.now() + timedelta(seconds=full_jitter(attempts, base=1, cap=300)),
                    last_error=f"{type(exc).__name__}: {exc}"[:4000],
                )
                if gave_up:
                    report.failed += 1
                else:
                    report.retried += 1
        # One statement marks every hand-off of the batch, in the transaction that made them.
        OutboxEvent.objects.filter(pk__in=delivered).update(
            status=OutboxEvent.Status.DELIVERED, delivered_at=timezone.now(), attempts=F("attempts") + 1
        )
        report.delivered += len(delivered)


def relay_batch(*, limit: int | None = None) -> RelayReport:
    """One pass over up to `limit` aggregate heads. Never call inside a transaction."""
    assert not connections["default"].in_atomic_block, "the relay must not run inside a transaction"
    report = RelayReport()
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(_HEADS, [limit or settings.OUTBOX_BATCH_SIZE])
        heads = cursor.fetchall()
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for event_id, tenant_id in heads:
        by_tenant[tenant_id].append(event_id)
    for tenant_id, event_ids in by_tenant.items():
        _deliver_tenant(tenant_id, event_ids, report)
    return report


def relay_until_idle(*, max_batches: int = 100) -> RelayReport:
    total = RelayReport()
    for _ in range(max_batches):
        report = relay_batch()
        total.delivered += report.delivered
        total.retried += report.retried
        total.failed += report.failed
        if report.handled == 0:
            break
    return total


def _listen_connection() -> psycopg.Connection[Any]:
    connection = dedicated_connection(SYSTEM, "ballast-outbox-relay")
    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return connection


def run_relay(stop: threading.Event) -> None:
    """Relay until `stop`: woken by NOTIFY at each commit that emitted events, and polling every
    OUTBOX_POLL_INTERVAL_MS in case a notification was missed (or an event's retry came due)."""
    poll = settings.OUTBOX_POLL_INTERVAL_MS / 1000
    listener: psycopg.Connection[Any] | None = None
    while not stop.is_set():
        try:
            if listener is None or listener.closed:
                listener = _listen_connection()
            relay_until_idle()
            for _ in listener.notifies(timeout=poll, stop_after=1):
                pass
        except Exception:
            logger.exception("outbox relay pass failed")
            if listener is not None:
                listener.close()
            listener = None
            stop.wait(poll)
        finally:
            connections.close_all()
    if listener is not None:
        listener.close()
