"""The outbox relay: hands every pending event to its sinks, at least once, in order per aggregate, fairly
across tenants.

- A batch takes turns across tenants: each tenant with pending events offers its oldest ones, and the batch
  takes every tenant's first, then every tenant's second, and so on, so one tenant's burst delays another's
  event by one batch at most. Each tenant's offer is a prefix, in id order, of its due events whose
  aggregate (tenant, target_type, target_id) has no event waiting for a retry: several events of one
  aggregate may go in one batch, in order. Finding them reads indexes only (the tenants with pending
  events by a skip scan, each one's oldest by a range scan, the waiting retries by their time): nothing
  sorts the backlog, however long it is.
- Candidates are locked FOR UPDATE SKIP LOCKED: two relays never take the same event. An event that another
  relay holds, or that is not due when locked, or whose hand-off fails, holds back the later events of its
  aggregate in the batch: an aggregate's later event never goes before its earlier one.
- The hand-off (every registered sink, outbox.sinks: a job per code subscriber, a delivery per webhook
  endpoint) is written in the same transaction that marks the event delivered: a relay killed before its
  commit leaves the event pending, and a repeated hand-off is absorbed by the sinks' idempotency keys.
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
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from ballast.lib import telemetry
from ballast.lib.retry import full_jitter
from ballast.lib.tracing import TraceContext, trace_context
from ballast.outbox.models import OutboxEvent
from ballast.outbox.services import NOTIFY_CHANNEL
from ballast.outbox.sinks import registered_sinks
from ballast.tenants.context import tenant_scope
from ballast.tenants.db_roles import dedicated_connection

logger = logging.getLogger(__name__)

SYSTEM = "system"

# %(limit)s events, taking turns across tenants. `active`: the tenants with pending events, one index probe
# each (a skip scan of outbox_pending_tenant). Each offers its oldest due events (a range scan of
# outbox_pending_tenant), at most its share of the batch, leaving out the aggregates that wait for a retry
# (outbox_pending's not-due range, normally a handful, hashed once). The planner cannot know the share, so
# it overestimates and would JIT-compile a query of a few milliseconds: JIT is off for it.
_CANDIDATES = """
WITH RECURSIVE active (tenant_id) AS (
    (SELECT tenant_id FROM outbox_outboxevent WHERE status = 'pending' ORDER BY tenant_id LIMIT 1)
  UNION ALL
    SELECT (SELECT e.tenant_id FROM outbox_outboxevent e
            WHERE e.status = 'pending' AND e.tenant_id > a.tenant_id ORDER BY e.tenant_id LIMIT 1)
    FROM active a WHERE a.tenant_id IS NOT NULL
),
share (events) AS (
    SELECT ceil(%(limit)s::numeric / greatest(count(*), 1))::int FROM active WHERE tenant_id IS NOT NULL
)
SELECT id, tenant_id, target_type, target_id FROM (
    SELECT offer.*, row_number() OVER (PARTITION BY offer.tenant_id ORDER BY offer.id) AS turn
    FROM active a CROSS JOIN LATERAL (
        SELECT e.id, e.tenant_id, e.target_type, e.target_id FROM outbox_outboxevent e
        WHERE e.tenant_id = a.tenant_id AND e.status = 'pending' AND e.next_attempt_at <= now()
          AND (e.tenant_id, e.target_type, e.target_id) NOT IN (
            SELECT w.tenant_id, w.target_type, w.target_id FROM outbox_outboxevent w
            WHERE w.status = 'pending' AND w.next_attempt_at > now())
        ORDER BY e.id
        LIMIT (SELECT events FROM share)
    ) offer
) offers
ORDER BY turn, id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Candidate:
    id: int
    tenant_id: int
    aggregate: tuple[str, str]


@dataclass
class RelayReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed


def hand_off(event: OutboxEvent) -> None:
    """Every registered sink, for one event. Runs inside tenant_scope(event.tenant_id). What the sinks enqueue
    (subscriber jobs, webhook attempts) was caused by the event and continues its trace."""
    caused = TraceContext(
        correlation_id=event.correlation_id, causation_id=str(event.event_id), traceparent=event.traceparent
    )
    with trace_context(caused), telemetry.continued(event.traceparent):
        for _name, sink in registered_sinks():
            sink(event)


def _deliver_tenant(tenant_id: int, candidates: list[Candidate], report: RelayReport) -> None:
    """Hand off the tenant's candidates in id order; an aggregate stops at the first that cannot go."""
    with tenant_scope(tenant_id):
        locked = {
            event.pk: event
            for event in OutboxEvent.objects.filter(pk__in=[candidate.id for candidate in candidates])
            .annotate(due=ExpressionWrapper(Q(next_attempt_at__lte=Now()), output_field=BooleanField()))
            .order_by("id")
            .select_for_update(skip_locked=True)
        }
        held_back: set[tuple[str, str]] = set()
        delivered: list[int] = []
        for candidate in sorted(candidates, key=lambda candidate: candidate.id):
            if candidate.aggregate in held_back:
                continue
            event = locked.get(candidate.id)
            if event is None or (event.status == OutboxEvent.Status.PENDING and not event.due):
                held_back.add(candidate.aggregate)  # another relay has it, or a retry of it is not due yet
                continue
            if event.status != OutboxEvent.Status.PENDING:
                continue  # handed off meanwhile by another relay (or given up): no longer holds anything back
            try:
                with transaction.atomic():  # a savepoint: a failed hand-off leaves nothing behind
                    hand_off(event)
                delivered.append(event.pk)
            except Exception as exc:
                logger.exception("outbox hand-off of %s failed", event.event_id)
                held_back.add(candidate.aggregate)
                attempts = event.attempts + 1
                gave_up = attempts >= settings.OUTBOX_MAX_ATTEMPTS
                OutboxEvent.objects.filter(pk=event.pk).update(
                    attempts=attempts,
                    status=OutboxEvent.Status.FAILED if gave_up else OutboxEvent.Status.PENDING,
                    next_attempt_at=Now() + timedelta(seconds=full_jitter(attempts, base=1, cap=300)),
                    last_error=f"{type(exc).__name__}: {exc}".replace("\x00", "")[:4000],
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


def candidates(limit: int) -> list[Candidate]:
    """Up to `limit` events that may be handed off now, taking turns across tenants (see _CANDIDATES)."""
    with connections[SYSTEM].cursor() as cursor:
        # One simple query, so one implicit transaction: SET LOCAL holds for the SELECT.
        cursor.execute("SET LOCAL jit = off; " + _CANDIDATES, {"limit": limit})
        cursor.nextset()
        return [Candidate(id=row[0], tenant_id=row[1], aggregate=(row[2], row[3])) for row in cursor.fetchall()]


def relay_batch(*, limit: int | None = None) -> RelayReport:
    """One pass over up to `limit` events, taking turns across tenants. Never call inside a transaction."""
    assert not connections["default"].in_atomic_block, "the relay must not run inside a transaction"
    report = RelayReport()
    by_tenant: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in candidates(limit or settings.OUTBOX_BATCH_SIZE):
        by_tenant[candidate.tenant_id].append(candidate)
    for tenant_id, offered in by_tenant.items():
        _deliver_tenant(tenant_id, offered, report)
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
