"""fan_out: one delivery per subscribed, enabled endpoint, idempotent per event, never across tenants."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from ballast.jobs.models import Job
from ballast.lib.partitioned_tables import by_table
from ballast.tenants.context import TenantContextError, tenant_scope
from ballast.tenants.models import Tenant
from ballast.webhooks.models import WebhookDelivery
from ballast.webhooks.services import WebhookError, fan_out, matches, update_endpoint
from ballast.webhooks.tests.conftest import attempt_job, cloud_event, make_endpoint, publish

PUBLIC = "https://93.184.215.14/hooks"
NOW = timezone.now()


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        ([], "job.succeeded", True),
        (["*"], "anything.at_all", True),
        (["job.succeeded"], "job.succeeded", True),
        (["job.succeeded"], "job.succeeded.v2", False),
        (["job.*"], "job.failed", True),
        (["job.*"], "jobs.failed", False),
        (["job.*"], "job", False),
        (["email.sent", "job.created"], "job.created", True),
        (["email.*"], "job.created", False),
    ],
)
def test_event_type_patterns(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_each_subscribed_enabled_endpoint_gets_one_delivery_and_its_first_job(tenant: Tenant) -> None:
    everything, _ = make_endpoint(tenant, PUBLIC)
    star, _ = make_endpoint(tenant, PUBLIC, ["*"])
    exact, _ = make_endpoint(tenant, PUBLIC, ["job.succeeded"])
    prefix, _ = make_endpoint(tenant, PUBLIC, ["job.*"])
    make_endpoint(tenant, PUBLIC, ["email.sent"])
    disabled, _ = make_endpoint(tenant, PUBLIC)
    with tenant_scope(tenant.pk):
        update_endpoint(endpoint=disabled, changes={"enabled": False})
    event_id = uuid.uuid4()

    deliveries = publish(tenant, "job.succeeded", event_id)

    assert [d.endpoint_id for d in deliveries] == [everything.pk, star.pk, exact.pk, prefix.pk]
    for delivery in deliveries:
        assert (delivery.status, delivery.attempts, delivery.event_type) == ("pending", 0, "job.succeeded")
        assert delivery.webhook_id == f"msg_{event_id}"
        assert json.loads(delivery.body) == cloud_event(str(event_id), "job.succeeded")
        job = attempt_job(delivery.pk, 1)
        assert job is not None and job.status == "queued" and job.payload == {"delivery_id": delivery.pk, "attempt": 1}


def test_a_redelivered_event_finds_its_deliveries_and_enqueues_nothing_more(tenant: Tenant) -> None:
    make_endpoint(tenant, PUBLIC)
    make_endpoint(tenant, PUBLIC, ["job.*"])
    event_id, created_at = uuid.uuid4(), timezone.now()

    first = publish(tenant, "job.succeeded", event_id, created_at)
    again = publish(tenant, "job.succeeded", str(event_id).upper(), created_at)  # another spelling of the same id

    assert [d.pk for d in again] == [d.pk for d in first]
    assert WebhookDelivery.objects.unscoped().count() == 2
    assert Job.objects.unscoped().filter(job_type="webhooks.deliver").count() == 2


def test_fan_out_joins_the_callers_transaction(tenant: Tenant) -> None:
    make_endpoint(tenant, PUBLIC)

    with pytest.raises(RuntimeError), tenant_scope(tenant.pk):
        fan_out(
            tenant_id=tenant.pk, event_id=uuid.uuid4(), event_created_at=NOW, event_type="job.created", body={"x": 1}
        )
        raise RuntimeError("the relay's hand-off failed")

    assert WebhookDelivery.objects.unscoped().count() == 0
    assert Job.objects.unscoped().count() == 0


def test_fan_out_never_crosses_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    make_endpoint(other_tenant, PUBLIC)

    assert publish(tenant) == []
    with pytest.raises(TenantContextError), tenant_scope(tenant.pk):
        fan_out(
            tenant_id=other_tenant.pk, event_id=uuid.uuid4(), event_created_at=NOW, event_type="job.created", body={}
        )
    assert WebhookDelivery.objects.unscoped().count() == 0


@pytest.mark.parametrize("event_id", ["", "has space", "dot.ted", "x" * 201])
def test_an_event_id_that_cannot_make_a_webhook_id_is_refused(tenant: Tenant, event_id: str) -> None:
    make_endpoint(tenant, PUBLIC)
    with pytest.raises(WebhookError), transaction.atomic(), tenant_scope(tenant.pk):
        fan_out(tenant_id=tenant.pk, event_id=event_id, event_created_at=NOW, event_type="job.created", body={})


def _partition_of(delivery_id: int) -> str:
    with connections["system"].cursor() as cursor:  # BYPASSRLS
        cursor.execute("SELECT tableoid::regclass::text FROM webhooks_webhookdelivery WHERE id = %s", [delivery_id])
        return str(cursor.fetchone()[0])


@pytest.fixture
def january_2019() -> Iterator[str]:
    """The January 2019 partition of deliveries (dropped afterwards: the test database outlives the test)."""
    spec = by_table("webhooks_webhookdelivery").spec
    spec.ensure(ahead=0, today=date(2019, 1, 1))
    yield spec.partition_name(date(2019, 1, 1))
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {spec.partition_name(date(2019, 1, 1))}")


def test_a_delivery_lands_in_its_events_month_and_a_later_redelivery_finds_it_there(
    tenant: Tenant, january_2019: str
) -> None:
    make_endpoint(tenant, PUBLIC)
    event_id, created_at = uuid.uuid4(), datetime(2019, 1, 10, 12, 0, tzinfo=UTC)

    [first] = publish(tenant, "job.succeeded", event_id, created_at)
    [again] = publish(tenant, "job.succeeded", event_id, created_at)  # relayed again, this month

    assert _partition_of(first.pk) == january_2019
    assert again.pk == first.pk and WebhookDelivery.objects.unscoped().count() == 1
    assert Job.objects.unscoped().filter(job_type="webhooks.deliver").count() == 1


def test_two_concurrent_fan_outs_of_one_event_make_one_delivery_per_endpoint(tenant: Tenant) -> None:
    """Two real connections: the second INSERT waits on the first's uncommitted row, then does nothing."""
    make_endpoint(tenant, PUBLIC)
    make_endpoint(tenant, PUBLIC)
    event_id, created_at = uuid.uuid4(), timezone.now()
    first_done, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def relay(name: str, hold: bool) -> None:
        try:
            if not hold:
                assert first_done.wait(10)
            with tenant_scope(tenant.pk):
                results[name] = publish(tenant, "job.succeeded", event_id, created_at)
                if hold:
                    first_done.set()
                    release.wait(10)
        except Exception as exc:  # reported by the assertions below
            results[name] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=relay, args=("first", True)),
        threading.Thread(target=relay, args=("second", False)),
    ]
    for thread in threads:
        thread.start()
    try:
        assert first_done.wait(10)
        waited = _a_session_waits_on_a_transaction()
    finally:
        release.set()
        for thread in threads:
            thread.join(15)

    assert waited, "the second fan-out did not wait for the first's uncommitted deliveries"
    assert isinstance(results["first"], list) and isinstance(results["second"], list), results
    assert sorted(d.pk for d in results["second"]) == sorted(d.pk for d in results["first"])
    assert WebhookDelivery.objects.unscoped().count() == 2
    assert Job.objects.unscoped().filter(job_type="webhooks.deliver").count() == 2


def _a_session_waits_on_a_transaction(timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["system"].cursor() as cursor:  # pg_locks shows every role's sessions
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted "
                "AND pid <> pg_backend_pid())"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False
