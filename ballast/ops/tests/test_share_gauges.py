"""The last hour's share of 429 responses and of delivery transport errors: gauges on /metrics and figures on the
governance page, after known work in this process (throttled API requests; webhook attempts against a closed
port and a real receiver; email attempts against a closed port and a real SMTP server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from ballast.emails.tests.conftest import Mailbox, new_delivery, run_job, unused_port
from ballast.lib import metrics
from ballast.ops import metrics as ops_metrics
from ballast.outbox import relay
from ballast.outbox.services import emit
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.webhooks.models import WebhookDelivery
from ballast.webhooks.tests.conftest import Receiver, make_endpoint, run_attempt

TOKEN = "metrics-token-for-the-share-gauges-0123456789"
JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}


@pytest.fixture
def window(settings: Any) -> Iterator[metrics.ShareWindow]:
    """A fresh window behind /metrics and the console, sampled at every read, starting now."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_CACHE_SECONDS = 0
    fresh = metrics.ShareWindow()
    saved = ops_metrics.SHARE_GAUGES.window
    ops_metrics.SHARE_GAUGES.window = fresh
    try:
        yield fresh
    finally:
        ops_metrics.SHARE_GAUGES.window = saved


def _gauges() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name.endswith("_ratio") or family.name == "ballast_shares_window_seconds":
            assert family.type == "gauge", family.name
            for sample in family.samples:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_the_429_share_is_the_throttled_responses_over_all_responses(
    tenant: Tenant, make_token: TokenMaker, settings: Any, window: metrics.ShareWindow
) -> None:
    settings.API_RATE_PER_TOKEN = "1/min"
    assert _gauges()[("ballast_http_429_last_hour_ratio", ())] == 0.0  # the window starts here
    client = client_for(make_token(tenant, Role.MEMBER))

    answers = [client.post("/api/v1/jobs", JOB, format="json").status_code for _ in range(3)]

    assert answers == [201, 429, 429]
    # Two 429s out of four responses: the three posts and the first scrape.
    gauges = _gauges()
    assert gauges[("ballast_http_429_last_hour_ratio", ())] == 0.5
    assert 0 <= gauges[("ballast_shares_window_seconds", ())] < 60


def _delivery_to(tenant: Tenant, url: str) -> int:
    endpoint, _ = make_endpoint(tenant, url)
    with transaction.atomic():
        event = emit(tenant_id=tenant.pk, event_type="job.succeeded", target_type="job", target_id=1, payload={})
    relay.relay_until_idle()
    return WebhookDelivery.objects.unscoped().get(endpoint_id=endpoint.pk, event_id=str(event.event_id)).pk


@pytest.mark.usefixtures("private_networks")
def test_the_transport_error_share_per_channel_after_known_deliveries(
    tenant: Tenant, receiver: Receiver, smtp: Mailbox, settings: Any, window: metrics.ShareWindow, reader: Any
) -> None:
    _gauges()
    # Webhooks: one attempt against a closed port, two delivered to a real receiver
    closed = _delivery_to(tenant, f"http://127.0.0.1:{unused_port()}/hooks")
    run_attempt(closed, 1)
    for _ in range(2):
        run_attempt(_delivery_to(tenant, receiver.url), 1)
    # Email: one sent, then three against a closed port
    sent = new_delivery(tenant)
    run_job(tenant.pk, sent.job_id)
    settings.EMAIL_PORT = unused_port()
    for _ in range(3):
        run_job(tenant.pk, new_delivery(tenant).job_id)

    gauges = _gauges()
    ratio = "ballast_delivery_transport_errors_last_hour_ratio"
    assert gauges[(ratio, (("channel", "webhook"),))] == pytest.approx(1 / 3)
    assert gauges[(ratio, (("channel", "email"),))] == 0.75
    assert len(receiver.requests) == 2 and len(smtp.accepted) == 1

    client = Client()
    client.force_login(reader)
    page = client.get("/admin/ops/governance/").content.decode()
    assert (
        '<tr data-channel="webhook"><td>webhook</td><td class="num errors">1</td><td class="num attempts">3</td>'
        in page
    )
    assert '<td class="num percent">33.3 %</td>' in page
    assert '<tr data-channel="email"><td>email</td><td class="num errors">3</td><td class="num attempts">4</td>' in page
    assert '<td class="num percent">75.0 %</td>' in page


def test_the_window_slides_past_counts_older_than_an_hour() -> None:
    window = metrics.ShareWindow(window=3600.0)
    window.shares(now=0.0)
    metrics.delivery(channel="webhook", outcome="transport_error")
    window.shares(now=1800.0)
    metrics.delivery(channel="webhook", outcome="delivered")

    within = window.shares(now=3000.0)  # both attempts are within the hour
    assert (within.window_seconds, within.transport_error_ratio("webhook")) == (3000.0, 0.5)
    slid = window.shares(now=5500.0)  # the transport error is older than an hour now
    assert slid.window_seconds == 3700.0 and slid.deliveries["webhook"] == 1.0
    assert slid.transport_error_ratio("webhook") == 0.0
    assert window.shares(now=5501.0).transport_error_ratio("email") == 0.0  # nothing counted: 0, not NaN
