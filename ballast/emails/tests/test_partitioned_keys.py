"""Email deliveries are partitioned by month: the per-tenant key and the Message-ID stay unique all the same."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.db import connections, transaction

from ballast.emails.models import EmailDelivery
from ballast.emails.services import EmailConflict, send_email
from ballast.emails.tests.conftest import new_delivery
from ballast.jobs.models import Job
from ballast.lib.partitioned_tables import by_table
from ballast.tenants.models import Tenant

DELIVERIES = by_table("emails_emaildelivery").spec
OLD = date(2019, 1, 1)


@pytest.fixture
def old_month(committed: None) -> Iterator[str]:
    """The January 2019 partition (dropped afterwards: the test database outlives the test)."""
    DELIVERIES.ensure(ahead=0, today=OLD)
    yield DELIVERIES.partition_name(OLD)
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {DELIVERIES.partition_name(OLD)}")


def partition_of(delivery_id: int) -> str:
    with connections["system"].cursor() as cursor:  # BYPASSRLS
        cursor.execute("SELECT tableoid::regclass::text FROM emails_emaildelivery WHERE id = %s", [delivery_id])
        return str(cursor.fetchone()[0])


def move_to_2019(delivery_id: int) -> None:
    with connections["system"].cursor() as cursor:  # the row moves to the January 2019 partition
        cursor.execute("UPDATE emails_emaildelivery SET created_at = '2019-01-10' WHERE id = %s", [delivery_id])


def test_the_table_is_partitioned_and_a_new_delivery_lands_in_this_months_partition(tenant: Tenant) -> None:
    delivery = new_delivery(tenant, key="k")

    assert partition_of(delivery.pk) == DELIVERIES.partition_name(date.today().replace(day=1))


def test_a_key_used_again_in_a_later_month_returns_the_first_delivery(tenant: Tenant, old_month: str) -> None:
    first = new_delivery(tenant, key="welcome:42")
    move_to_2019(first.pk)
    assert partition_of(first.pk) == old_month

    again = new_delivery(tenant, key="welcome:42")

    assert (again.pk, again.created, again.message_id) == (first.pk, False, first.message_id)
    assert EmailDelivery.objects.unscoped().filter(key="welcome:42").count() == 1
    assert Job.objects.unscoped().count() == 1


def test_a_key_used_in_an_earlier_month_with_other_content_is_refused(tenant: Tenant, old_month: str) -> None:
    first = new_delivery(tenant, key="welcome:42")
    move_to_2019(first.pk)

    with pytest.raises(EmailConflict) as refused:
        new_delivery(tenant, key="welcome:42", subject="Something else")

    assert refused.value.delivery.pk == first.pk
    assert EmailDelivery.objects.unscoped().count() == 1


def test_two_concurrent_sends_of_one_key_make_one_delivery(tenant: Tenant) -> None:
    """Two real connections: the second send waits for the first's transaction, then finds its delivery."""
    first_sent, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def send(name: str, wait_before: threading.Event | None, hold: threading.Event | None) -> None:
        try:
            if wait_before is not None:
                assert wait_before.wait(10)
            with transaction.atomic():
                results[name] = send_email(tenant=tenant.pk, to=["ada@example.com"], subject="s", body="b", key="k")
                if hold is not None:
                    first_sent.set()
                    hold.wait(10)  # the first transaction stays open, its row uncommitted
        except Exception as exc:  # reported by the assertions below
            results[name] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=send, args=("first", None, release))
    second = threading.Thread(target=send, args=("second", first_sent, None))
    first.start()
    second.start()
    try:
        assert first_sent.wait(10)
        waited = _waits_on_an_advisory_lock()
    finally:
        release.set()
        first.join(15)
        second.join(15)

    assert waited, "the second send did not wait for the first's transaction"
    assert isinstance(results["first"], EmailDelivery) and isinstance(results["second"], EmailDelivery), results
    assert (results["first"].created, results["second"].created) == (True, False)
    assert results["second"].pk == results["first"].pk
    assert EmailDelivery.objects.unscoped().filter(key="k").count() == 1
    assert Job.objects.unscoped().filter(job_type="email.send").count() == 1


def _waits_on_an_advisory_lock(timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["system"].cursor() as cursor:
            cursor.execute(  # pg_locks, unlike pg_stat_activity, shows other roles' sessions to any role
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def test_a_send_that_rolled_back_frees_its_key(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        new_delivery(tenant, key="k")
        raise RuntimeError("the caller changed its mind")

    again = new_delivery(tenant, key="k")

    assert again.created and EmailDelivery.objects.unscoped().count() == 1


def test_every_delivery_has_its_own_message_id_and_the_parent_keeps_a_unique_key_on_it(tenant: Tenant) -> None:
    deliveries = [new_delivery(tenant, key=f"k{n}") for n in range(5)]
    assert len({d.message_id for d in deliveries}) == 5

    with pytest.raises(Exception, match=r"Key \(tenant_id, message_id, created_at\)"):
        with connections["system"].cursor() as cursor:  # the same row again: refused by the parent's unique key
            cursor.execute(
                "INSERT INTO emails_emaildelivery (tenant_id, message_id, from_email, recipients, subject, body, "
                "payload_hash, status, attempts, last_error, provider_message_id, created_at, updated_at) "
                "SELECT tenant_id, message_id, from_email, recipients, subject, body, payload_hash, status, "
                "attempts, last_error, provider_message_id, created_at, updated_at FROM emails_emaildelivery "
                "WHERE id = %s",
                [deliveries[0].pk],
            )
