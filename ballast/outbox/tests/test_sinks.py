"""The outbox knows no consumer: the relay hands each event to the sinks that higher layers registered."""

from __future__ import annotations

import pytest

from ballast.jobs.models import Job
from ballast.outbox import relay, sinks
from ballast.outbox.models import OutboxEvent
from ballast.outbox.tests.helpers import emit_in_transaction, events
from ballast.tenants.models import Tenant


def test_subscriber_jobs_and_webhooks_register_their_sinks_in_app_order() -> None:
    assert [name for name, _sink in sinks.registered_sinks()] == ["jobs.subscribers", "webhooks"]


def test_a_sink_name_cannot_be_taken_by_another_function(monkeypatch: pytest.MonkeyPatch) -> None:
    def first(event: OutboxEvent) -> None: ...

    def second(event: OutboxEvent) -> None: ...

    monkeypatch.setattr(sinks, "_sinks", {})
    sinks.register_sink("tests.sink", first)
    sinks.register_sink("tests.sink", first)  # twice with one function: harmless

    with pytest.raises(ValueError, match="registered twice"):
        sinks.register_sink("tests.sink", second)


def test_a_registered_sink_receives_each_event_inside_its_tenant_scope(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[tuple[str, int]] = []

    def record(event: OutboxEvent) -> None:
        # The scoped manager reads only inside tenant_scope: the relay opened the event's.
        received.append((event.event_type, OutboxEvent.objects.filter(pk=event.pk).count()))

    monkeypatch.setitem(sinks._sinks, "tests.record", record)
    emit_in_transaction(tenant_id=tenant.pk, event_type="order.placed", target_type="order", target_id=1)

    relay.relay_until_idle()

    assert received == [("order.placed", 1)]


def test_a_failing_sink_undoes_the_other_sinks_hand_off_and_the_event_is_retried(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: OutboxEvent) -> None:
        raise ConnectionError("sink unavailable")

    monkeypatch.setitem(sinks._sinks, "tests.broken", broken)  # after jobs.subscribers, which enqueues a job
    event = emit_in_transaction(
        tenant_id=tenant.pk, event_type="tests.thing_happened", target_type="thing", target_id=1
    )

    report = relay.relay_batch()

    row = events(pk=event.pk)[0]
    assert (report.retried, row.status, row.attempts) == (1, "pending", 1)
    assert "sink unavailable" in row.last_error
    assert not Job.objects.unscoped().filter(job_type="outbox.deliver").exists()
