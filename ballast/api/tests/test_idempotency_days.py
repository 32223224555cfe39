"""Idempotency records live in daily partitions: a key stays exactly-once across midnight (UTC).

A unique key per day cannot see into yesterday's partition; these tests fail on a version that relies on it
alone (ON CONFLICT per day), and on one that checks for a live record without the advisory lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from django.utils import timezone

from ballast.api import idempotency
from ballast.jobs.models import Job
from ballast.outbox.models import IdempotencyRecord
from ballast.outbox.partitioned_tables import IDEMPOTENCY_RECORDS
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Tenant
from ballast.tenants.tests.conftest import client_for

JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}
TODAY = timezone.now().date()
YESTERDAY = TODAY - timedelta(days=1)
MIDNIGHT = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
BEFORE_MIDNIGHT = MIDNIGHT - timedelta(milliseconds=1)
AFTER_MIDNIGHT = MIDNIGHT + timedelta(milliseconds=1)


class Clock(threading.local):
    """api.idempotency's clock, set per thread: two concurrent requests can stand on either side of midnight."""

    at: datetime | None = None

    def now(self) -> datetime:
        return self.at or timezone.now()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(idempotency, "timezone", clock)
    return clock


@pytest.fixture
def yesterdays_partition(committed: None) -> Iterator[str]:
    """The migration made today's partition and those ahead; yesterday's is planted, and dropped afterwards."""
    IDEMPOTENCY_RECORDS.ensure(ahead=0, today=YESTERDAY)
    name = IDEMPOTENCY_RECORDS.partition_name(YESTERDAY)
    yield name
    connections.close_all()
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _post(token: str, key: str) -> Any:
    return client_for(token).post("/api/v1/jobs", JOB, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _days_of(key: str) -> list[date]:
    return sorted(IdempotencyRecord.objects.unscoped().filter(key=key).values_list("day", flat=True))


def test_a_key_first_used_just_before_midnight_replays_just_after(
    tenant: Tenant, make_token: TokenMaker, clock: Clock, yesterdays_partition: str
) -> None:
    token = make_token(tenant)
    clock.at = BEFORE_MIDNIGHT
    first = _post(token, "midnight")

    clock.at = AFTER_MIDNIGHT
    again = _post(token, "midnight")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert _days_of("midnight") == [YESTERDAY]  # one record, in yesterday's partition
    assert Job.objects.unscoped().count() == 1


def test_the_same_key_with_another_body_after_midnight_is_422(
    tenant: Tenant, make_token: TokenMaker, clock: Clock, yesterdays_partition: str
) -> None:
    token = make_token(tenant)
    clock.at = BEFORE_MIDNIGHT
    _post(token, "midnight")

    clock.at = AFTER_MIDNIGHT
    other = client_for(token).post(
        "/api/v1/jobs", {**JOB, "payload": {"value": 2}}, format="json", HTTP_IDEMPOTENCY_KEY="midnight"
    )

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert _days_of("midnight") == [YESTERDAY]


def test_a_key_expired_yesterday_starts_afresh_in_todays_partition(
    tenant: Tenant, make_token: TokenMaker, clock: Clock, yesterdays_partition: str
) -> None:
    token = make_token(tenant)
    clock.at = BEFORE_MIDNIGHT
    _post(token, "stale")
    IdempotencyRecord.objects.unscoped().filter(key="stale").update(expires_at=MIDNIGHT)

    clock.at = AFTER_MIDNIGHT
    again = _post(token, "stale")

    # Executed anew (the job's own key found the job: 200); the expired record waits for its day's drop.
    assert again.status_code == 200 and not again.has_header("Idempotent-Replayed")
    assert _days_of("stale") == [YESTERDAY, TODAY]
    live = IdempotencyRecord.objects.unscoped().get(key="stale", expires_at__gt=AFTER_MIDNIGHT)
    assert live.day == TODAY and live.status == "completed"


def test_a_request_that_died_before_midnight_is_taken_over_after_it_in_its_own_record(
    tenant: Tenant, clock: Clock, yesterdays_partition: str
) -> None:
    clock.at = BEFORE_MIDNIGHT
    dead = idempotency.begin(tenant_id=tenant.pk, token_id=1, key="slow", method="POST", path="/p", body=b"")

    clock.at = BEFORE_MIDNIGHT + timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS + 1)  # its lock ran out
    retry = idempotency.begin(tenant_id=tenant.pk, token_id=1, key="slow", method="POST", path="/p", body=b"")

    assert (retry.record_id, retry.day) == (dead.record_id, YESTERDAY) and retry.lock_token != dead.lock_token
    assert idempotency.finish(retry, HttpResponse(b'{"n": 2}', status=201), committed_with_business=False)
    assert not idempotency.finish(dead, HttpResponse(b'{"n": 1}', status=201), committed_with_business=False)
    assert _days_of("slow") == [YESTERDAY]


def _waiting_backends() -> int:
    with connections["owner"].cursor() as cursor:
        cursor.execute(  # pg_locks: pg_stat_activity hides other roles' wait events
            "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def test_two_concurrent_first_requests_straddling_midnight_execute_once(
    tenant: Tenant, clock: Clock, yesterdays_partition: str
) -> None:
    # Both inserts are made to overlap: a third connection holds the tenant row, so each insert, once made,
    # waits at commit for its deferred foreign-key check. Without the advisory lock both would insert (each
    # into its own day's partition, neither seeing the other's uncommitted row) and both would execute.
    db = settings.DATABASES["system"]
    holder = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"]
    )
    holder.execute("SELECT 1 FROM tenants_tenant WHERE id = %s FOR UPDATE", [tenant.pk])
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def first_request(name: str, at: datetime) -> None:
        clock.at = at
        try:
            barrier.wait(10)
            idempotency.begin(
                tenant_id=tenant.pk, token_id=7, key="straddle", method="POST", path="/p", body=b'{"a": 1}'
            )
            outcomes[name] = "executed"
        except idempotency.RequestInFlight:
            outcomes[name] = "409"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=first_request, args=("before", BEFORE_MIDNIGHT)),
        threading.Thread(target=first_request, args=("after", AFTER_MIDNIGHT)),
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while _waiting_backends() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_backends() == 2  # both requests are in the database at once
    finally:
        holder.rollback()
        holder.close()
        for thread in threads:
            thread.join(30)

    assert sorted(outcomes.values()) == ["409", "executed"]
    assert IdempotencyRecord.objects.unscoped().filter(key="straddle").count() == 1
