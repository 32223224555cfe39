"""/metrics in this process: Postgres-read gauges served from memory between reads, the 429 counter, the pool
status on the queue console."""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from ballast.jobs.services import enqueue
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for

TOKEN = "metrics-token-for-tests-0123456789abcdef"
JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}


def _scrape() -> str:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


def _due_line(body: str) -> str:
    return next(
        line for line in body.splitlines() if line.startswith('ballast_queue_jobs{queue="default",state="due"}')
    )


def test_a_scrape_within_the_cache_time_reads_nothing_from_postgres(tenant: Tenant, settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_CACHE_SECONDS = 60
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    settings.METRICS_CACHE_SECONDS = 0
    first = _due_line(_scrape())  # read now, kept for a minute
    settings.METRICS_CACHE_SECONDS = 60
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2})

    with CaptureQueriesContext(connections["system"]) as system, CaptureQueriesContext(connections["default"]) as app:
        second = _due_line(_scrape())

    assert first == second == 'ballast_queue_jobs{queue="default",state="due"} 1.0'
    assert len(system) == len(app) == 0
    settings.METRICS_CACHE_SECONDS = 0
    assert _due_line(_scrape()).endswith(" 2.0")


def test_a_throttled_request_is_counted_by_its_scope(tenant: Tenant, make_token: TokenMaker, settings: Any) -> None:
    settings.API_RATE_PER_TOKEN = "1/min"
    client = client_for(make_token(tenant, Role.MEMBER))
    before = REGISTRY.get_sample_value("ballast_throttled_requests_total", {"scope": "token"}) or 0.0

    answers = [client.post("/api/v1/jobs", JOB, format="json").status_code for _ in range(3)]

    assert answers == [201, 429, 429]
    assert REGISTRY.get_sample_value("ballast_throttled_requests_total", {"scope": "token"}) == before + 2


def test_the_queue_console_shows_this_processes_pools(reader: Any) -> None:
    client = Client()
    client.force_login(reader)

    page = client.get("/admin/ops/queue/").content.decode()

    assert 'id="pools"' in page and "Connection pools" in page
    assert 'data-pool="' in page and ':default"' in page
