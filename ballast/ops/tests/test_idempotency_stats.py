"""Idempotency statistics: keyed API requests counted per minute in Redis, copied into ops_idempotencyminute by
the minute rollup, shown on the queue console and exported on /metrics."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ballast.api import idempotency
from ballast.ops import idempotency_stats
from ballast.ops.job_handlers import roll_up
from ballast.ops.models import IdempotencyMinute
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import ApiToken, Tenant
from ballast.tenants.tests.conftest import client_for

JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}
NEXT_MINUTE = 60.0  # flushing "a minute from now" makes the current minute a complete one


def _post(token: str, body: dict[str, Any], key: str) -> Any:
    return client_for(token).post("/api/v1/jobs", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def keyed_traffic(tenant: Tenant, make_token: TokenMaker) -> None:
    """Two executed requests, one replay, one 422 conflict, one 409 in flight."""
    token = make_token(tenant)
    assert _post(token, JOB, "k1").status_code == 201
    assert _post(token, JOB, "k1")["Idempotent-Replayed"] == "true"
    assert _post(token, {**JOB, "payload": {"value": 2}}, "k1").status_code == 422
    api_token = ApiToken.objects.unscoped().get(prefix=token[3:15])
    idempotency.begin(  # another request with key k2 is still running
        tenant_id=tenant.pk, token_id=api_token.pk, key="k2", method="POST", path="/api/v1/jobs", body=b"{}"
    )
    assert _post(token, {}, "k2").status_code == 409


def test_keyed_requests_are_counted_by_outcome_and_shown_on_the_console_and_metrics(
    reader: User, tenant: Tenant, make_token: TokenMaker, settings: Any
) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics"
    keyed_traffic(tenant, make_token)

    idempotency_stats.flush(now=time.time() + NEXT_MINUTE)

    rows = list(IdempotencyMinute.objects.using("system").filter(tenant_id=tenant.pk))
    assert sum(r.executed for r in rows) == 2 and sum(r.replays for r in rows) == 1
    assert sum(r.conflicts for r in rows) == 1 and sum(r.in_flight for r in rows) == 1
    client = Client()
    client.force_login(reader)
    page = client.get("/admin/ops/queue/").content.decode()
    section = page[page.index('id="idempotency"') :]
    for css, value in [("keyed", "5"), ("replays", "1"), ("hit-rate", "20 %"), ("conflicts", "1"), ("in-flight", "1")]:
        assert re.search(rf'class="num {css}">{value}</td>', section), css
    assert "Replays: latest" in section and "highest 1 /min" in section  # the chart's caption
    assert client.get(f"/admin/ops/queue/?tenant={tenant.slug}").content.decode().count('class="num keyed">5<') == 1
    metrics = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").content.decode()
    assert 'ballast_idempotency_requests_last_hour{outcome="replays"} 1.0' in metrics
    assert 'ballast_idempotency_requests_last_hour{outcome="conflicts"} 1.0' in metrics
    assert 'ballast_idempotency_requests_last_hour{outcome="in_flight"} 1.0' in metrics
    assert 'ballast_idempotency_requests_last_hour{outcome="executed"} 2.0' in metrics
    assert "ballast_idempotency_hit_rate_last_hour 0.2" in metrics


def test_a_flush_sets_the_counts_so_running_it_twice_or_late_counts_nothing_twice(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    token = make_token(tenant)
    _post(token, JOB, "k1")
    _post(token, JOB, "k1")
    later = time.time() + NEXT_MINUTE

    idempotency_stats.flush(now=later)
    assert idempotency_stats.flush(now=later) == 0  # nothing changed: no row rewritten
    _post(token, JOB, "k1")  # lands in a minute already copied
    idempotency_stats.flush(now=later)

    assert idempotency_stats.totals(tenant_id=tenant.pk) | {"hit_rate": None} == {
        "keyed": 3,
        "executed": 1,
        "replays": 2,
        "conflicts": 0,
        "in_flight": 0,
        "hit_rate": None,
    }


def test_the_current_minute_waits_for_the_scheduler_rollup_after_it_ends(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    _post(make_token(tenant), JOB, "k1")

    roll_up()  # the periodic task: the current minute is not complete yet (unless it just ended)
    copied_now = IdempotencyMinute.objects.using("system").count()
    idempotency_stats.flush(now=time.time() + NEXT_MINUTE)

    assert copied_now in (0, 1)
    assert IdempotencyMinute.objects.using("system").get().executed == 1


def test_minutes_older_than_the_retention_are_dropped_by_the_flush(tenant: Tenant) -> None:
    old = IdempotencyMinute.objects.using("system").create(
        minute=timezone.now() - idempotency_stats.RETENTION - timedelta(minutes=1), tenant_id=tenant.pk, executed=3
    )
    recent = IdempotencyMinute.objects.using("system").create(
        minute=timezone.now() - timedelta(days=6), tenant_id=tenant.pk, executed=4
    )

    idempotency_stats.flush()

    assert list(IdempotencyMinute.objects.using("system").values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk
