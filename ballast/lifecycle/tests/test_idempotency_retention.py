"""Idempotency records: daily partitions made ahead by maintenance, and retention by dropping whole days (the
periodic DELETE of expired records is gone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from ballast.lib.partitioned_tables import by_table
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.lifecycle.retention import apply_retention
from ballast.tenants.models import Tenant

RECORDS = by_table("outbox_idempotencyrecord")
SPEC = RECORDS.spec


@pytest.fixture
def tenant(committed: None) -> Tenant:
    return Tenant.objects.using("system").create(slug="acme", name="Acme")


@pytest.fixture
def planted_days() -> Iterator[list[date]]:
    days: list[date] = []
    yield days
    with connections["owner"].cursor() as cursor:
        for day in days:
            cursor.execute(f"DROP TABLE IF EXISTS {SPEC.partition_name(day)}")


def _record(tenant: Tenant, *, key: str, day: date, expires: date | datetime) -> None:
    with connections["system"].cursor() as cursor:  # BYPASSRLS
        cursor.execute(
            "INSERT INTO outbox_idempotencyrecord (tenant_id, token_id, key, method, path, fingerprint, status, "
            "lock_token, locked_until, response_headers, created_at, expires_at, day) "
            "VALUES (%s, 1, %s, 'POST', '/p', 'f', 'completed', gen_random_uuid(), %s, '{}', %s, %s, %s)",
            [tenant.pk, key, day, day, expires, day],
        )


def _names() -> set[str]:
    return set(SPEC.partition_names())


def test_records_are_partitioned_by_day_without_a_default_partition(committed: None) -> None:
    today = date.today()

    assert (SPEC.column, SPEC.grain, SPEC.has_default) == ("day", "day", False)
    assert {SPEC.partition_name(today), SPEC.partition_name(today + timedelta(days=1))} <= _names()
    assert SPEC.default_name not in _names()


@pytest.mark.parametrize(("ttl_hours", "kept_days"), [(24, 2), (36, 3), (1, 2)])
def test_the_retention_cutoff_keeps_the_ttl_and_a_day_more(settings, ttl_hours: int, kept_days: int) -> None:
    settings.IDEMPOTENCY_TTL_HOURS = ttl_hours
    today = date(2026, 3, 10)

    cutoff = RECORDS.retention_cutoff(today)

    assert cutoff == today - timedelta(days=kept_days)
    # The newest record of the last day that may go is older than the TTL plus a day.
    last_dropped_day_ends = cutoff
    assert today - last_dropped_day_ends >= timedelta(hours=ttl_hours) + timedelta(days=1)


def test_maintenance_keeps_the_configured_days_ready_ahead(committed: None, settings) -> None:
    settings.IDEMPOTENCY_PARTITIONS_AHEAD = 9
    furthest = SPEC.partition_name(date.today() + timedelta(days=9))
    try:
        created = ensure_all_partitions()
        assert furthest in created and furthest in _names()
        assert ensure_all_partitions() == []
    finally:
        with connections["owner"].cursor() as cursor:
            for offset in (8, 9):
                cursor.execute(f"DROP TABLE IF EXISTS {SPEC.partition_name(date.today() + timedelta(days=offset))}")


def test_retention_drops_expired_days_whole_and_keeps_a_day_holding_a_live_record(
    tenant: Tenant, planted_days: list[date]
) -> None:
    expired_day, live_day = date(2019, 1, 10), date(2019, 1, 11)
    for day in (expired_day, live_day):
        SPEC.ensure(ahead=0, today=day)
        planted_days.append(day)
    _record(tenant, key="old-1", day=expired_day, expires=date(2019, 1, 11))
    _record(tenant, key="old-2", day=expired_day, expires=date(2019, 1, 11))
    _record(tenant, key="expired", day=live_day, expires=date(2019, 1, 12))
    # A key taken over (its first request died) keeps its first day's record, live for another TTL.
    _record(tenant, key="taken-over", day=live_day, expires=timezone.now() + timedelta(hours=1))
    expired_name, live_name = SPEC.partition_name(expired_day), SPEC.partition_name(live_day)

    preview = {d.partition: d for d in apply_retention(dry_run=True).decisions}
    assert (preview[expired_name].action, preview[expired_name].rows) == ("drop", 2)
    assert preview[live_name].action == "keep: holds a live idempotency record"

    done = apply_retention()

    assert done.dropped == [expired_name]
    assert expired_name not in _names() and live_name in _names()
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [expired_name])
        assert cursor.fetchone()[0] is None  # detached and dropped, not left behind
    today = SPEC.partition_name(date.today())
    assert today in _names()
