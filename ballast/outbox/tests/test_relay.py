"""The relay: at least once, never twice at once, in order per aggregate, retrying only the delivery, taking
turns across tenants."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import date

import pytest
from django.db import connections, transaction
from django.db.models.functions import Now

from ballast.outbox import partitioned_tables as partitions
from ballast.outbox import relay
from ballast.outbox.models import OutboxEvent
from ballast.outbox.services import NewEvent, emit, insert_from_cte_sql
from ballast.outbox.tests import helpers
from ballast.outbox.tests.helpers import emit_in_transaction, events, run_pending_jobs
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant


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
    monkeypatch.setattr(relay, "full_jitter", lambda attempt, base, cap: 60.0)  # full jitter may draw ~0 s
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


def _burst(tenant: Tenant, count: int, aggregates: int) -> None:
    """`count` events of `aggregates` interleaved aggregates, in one statement."""
    template = NewEvent(tenant_id=tenant.pk, event_type="tests.burst", target_type="thing", target_id="")
    insert, params = insert_from_cte_sql(
        template,
        cte="burst",
        expressions={
            "event_id": "gen_random_uuid()",
            "target_id": f"mod(n, {aggregates})::text",
            "payload": "jsonb_build_object('n', n)",
        },
    )
    with tenant_scope(tenant.pk), connections["default"].cursor() as cursor:
        cursor.execute(
            f"WITH burst AS (SELECT generate_series(1, %s) AS n ORDER BY n), event AS ({insert}) SELECT 1",
            [count, *params],
        )


def _recording_hand_off(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[int, str], list[int]]:
    """Wraps the real hand-off; what it handed off, per aggregate, in order."""
    handed: dict[tuple[int, str], list[int]] = defaultdict(list)
    real_hand_off = relay.hand_off

    def recording(event: OutboxEvent) -> None:
        real_hand_off(event)
        handed[(event.tenant_id, event.target_id)].append(event.pk)

    monkeypatch.setattr(relay, "hand_off", recording)
    return handed


def test_a_burst_of_one_tenant_delays_another_tenants_event_by_one_batch_at_most(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    _burst(tenant, 5000, aggregates=10)
    theirs = emit_in_transaction(tenant_id=other_tenant.pk, event_type="order.placed", target_type="order", target_id=1)
    handed = _recording_hand_off(monkeypatch)

    def handed_only(event: OutboxEvent) -> None:
        handed[(event.tenant_id, event.target_id)].append(event.pk)

    first = relay.relay_batch(limit=100)

    assert events(pk=theirs.pk)[0].status == "delivered"
    assert first.delivered == 51  # each of the two tenants offered half a batch: the burst's oldest 50, and 1
    monkeypatch.setattr(relay, "hand_off", handed_only)  # the rest, without the sinks' cost
    relay.relay_until_idle(max_batches=100)
    mine = events(tenant_id=tenant.pk)
    assert len(mine) == 5000 and {e.status for e in mine} == {"delivered"}
    assert sum(len(pks) for pks in handed.values()) == 5001  # each event once
    for aggregate, pks in handed.items():
        assert pks == sorted(pks), f"aggregate {aggregate} out of order"


def test_an_aggregates_events_go_in_order_in_one_batch_and_stop_at_the_first_failure(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    emitted = {
        target: [
            emit_in_transaction(tenant_id=tenant.pk, event_type="tests.step", target_type="thing", target_id=target)
            for _ in range(count)
        ]
        for target, count in (("x", 5), ("y", 3))
    }
    failing = emitted["x"][2].pk
    handed = _recording_hand_off(monkeypatch)
    recording = relay.hand_off
    failures: list[int] = []

    def fails_once(event: OutboxEvent) -> None:
        if event.pk == failing and not failures:
            failures.append(event.pk)
            raise ConnectionError("sink unavailable")
        recording(event)

    monkeypatch.setattr(relay, "hand_off", fails_once)

    report = relay.relay_batch()
    status = {e.pk: e.status for e in events()}
    assert (report.delivered, report.retried) == (5, 1)
    assert [status[e.pk] for e in emitted["x"]] == ["delivered", "delivered", "pending", "pending", "pending"]
    assert {status[e.pk] for e in emitted["y"]} == {"delivered"}

    OutboxEvent.objects.unscoped().filter(pk=failing).update(next_attempt_at=Now())  # the retry comes due
    relay.relay_until_idle()

    assert handed[(tenant.pk, "x")] == [e.pk for e in emitted["x"]]
    assert handed[(tenant.pk, "y")] == [e.pk for e in emitted["y"]]


def test_every_partition_carries_the_relays_index(committed: None) -> None:
    created = partitions.ensure_partitions(months_ahead=0, today=date(2019, 11, 17))  # made after the migration
    try:
        with connections["owner"].cursor() as cursor:
            cursor.execute(
                "SELECT t.relname FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent "
                "JOIN pg_index x ON x.indexrelid = i.inhrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE parent.relname = 'outbox_pending_tenant'"
            )
            indexed = {row[0] for row in cursor.fetchall()}
    finally:
        for partition in partitions.OUTBOX.expired(date(2019, 12, 1)):
            partitions.OUTBOX.drop(partition)

    assert created == ["outbox_outboxevent_p201911"]
    assert indexed == set(partitions.existing_partitions()) | set(created)
