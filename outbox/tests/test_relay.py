"""The relay: at least once, never twice at once, in order per aggregate, retrying only the delivery."""

from __future__ import annotations

import random
import threading
from collections import defaultdict

import pytest
from django.db import connections, transaction

from outbox import relay
from outbox.models import OutboxEvent
from outbox.services import emit
from outbox.tests import helpers
from outbox.tests.helpers import emit_in_transaction, events, run_pending_jobs
from tenants.context import tenant_scope
from tenants.models import Tenant


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    helpers.SEEN.clear()


def _emit_many(tenant: Tenant, aggregates: int, per_aggregate: int) -> None:
    with transaction.atomic():
        for sequence in range(per_aggregate):
            for aggregate in range(aggregates):
                emit(
                    tenant_id=tenant.pk,
                    event_type="tests.thing_happened",
                    target_type="thing",
                    target_id=aggregate,
                    payload={"sequence": sequence},
                )


def test_a_subscriber_runs_once_for_an_event_even_when_it_is_relayed_again(tenant: Tenant) -> None:
    event = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=1
    )

    assert relay.relay_until_idle().delivered == 1
    OutboxEvent.objects.unscoped().filter(pk=event.pk).update(status="pending")  # as if the mark was lost
    assert relay.relay_until_idle().delivered == 1
    run_pending_jobs("outbox.deliver")

    assert helpers.SEEN == [(str(event.event_id), "tests.thing_happened")]
    assert events(pk=event.pk)[0].status == "delivered"


def test_a_relay_killed_after_hand_off_but_before_marking_redelivers_and_the_subscriber_runs_once(
    tenant: Tenant,
) -> None:
    event = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=1
    )
    with tenant_scope(tenant.pk):  # the hand-off commits, then the relay dies before its mark
        relay.hand_off(event)
    assert events(pk=event.pk)[0].status == "pending"

    relay.relay_until_idle()
    run_pending_jobs("outbox.deliver")

    assert helpers.SEEN == [(str(event.event_id), "tests.thing_happened")]
    assert events(pk=event.pk)[0].status == "delivered"


def test_a_failed_hand_off_retries_only_the_delivery(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    event = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=1
    )

    def broken(event: OutboxEvent) -> None:
        raise ConnectionError("subscriber store unavailable")

    monkeypatch.setattr(relay, "hand_off", broken)
    report = relay.relay_batch()

    row = events(pk=event.pk)[0]
    assert (report.retried, row.status, row.attempts) == (1, "pending", 1)
    assert "subscriber store unavailable" in row.last_error and row.next_attempt_at > row.created_at
    assert relay.relay_batch().handled == 0  # not due yet


def test_a_later_event_never_overtakes_an_earlier_one_of_its_aggregate(tenant: Tenant) -> None:
    first = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=7
    )
    second = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=7
    )
    other = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=8
    )
    # The first waits for a retry: the second must wait with it; the other aggregate goes on.
    OutboxEvent.objects.unscoped().filter(pk=first.pk).update(next_attempt_at=first.created_at.replace(year=2999))

    relay.relay_until_idle()

    statuses = {e.pk: e.status for e in events()}
    assert (statuses[first.pk], statuses[second.pk], statuses[other.pk]) == ("pending", "pending", "delivered")


def test_two_concurrent_relays_deliver_every_event_once_in_aggregate_order_despite_failures(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    _emit_many(tenant, aggregates=10, per_aggregate=12)
    delivered: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()
    chaos = random.Random(7)
    real_hand_off = relay.hand_off

    def flaky_hand_off(event: OutboxEvent) -> None:
        if chaos.random() < 0.25:
            raise ConnectionError("flaky subscriber")
        real_hand_off(event)
        with lock:
            delivered[event.target_id].append(event.pk)

    monkeypatch.setattr(relay, "hand_off", flaky_hand_off)
    monkeypatch.setattr(relay, "full_jitter", lambda attempt, base, cap: 0.0)  # retry at once

    def relay_until_done() -> None:
        try:
            for _ in range(500):
                relay.relay_batch(limit=7)
                if not OutboxEvent.objects.unscoped().filter(status="pending").exists():
                    return
        finally:
            connections.close_all()

    relays = [threading.Thread(target=relay_until_done) for _ in range(2)]
    for thread in relays:
        thread.start()
    for thread in relays:
        thread.join(120)

    all_events = events()
    assert len(all_events) == 120 and {e.status for e in all_events} == {"delivered"}
    handed_off = [pk for pks in delivered.values() for pk in pks]
    assert sorted(handed_off) == sorted(e.pk for e in all_events)  # each exactly once
    for aggregate, pks in delivered.items():
        assert pks == sorted(pks), f"aggregate {aggregate} out of order: {pks}"
    assert any(e.attempts > 1 for e in all_events)  # the failures really happened
