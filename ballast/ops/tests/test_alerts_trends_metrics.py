"""Alert rules and lifecycle (audited, emitted to the outbox), per-minute rollups drawn as SVG, /metrics."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops import actions, alerts, rollups
from ballast.ops.models import Alert, MinuteRollup
from ballast.ops.tests.conftest import ConsoleData
from ballast.outbox.models import OutboxEvent
from ballast.tenants.models import OperatorAction, Tenant


def events(tenant: Tenant) -> list[str]:
    return list(
        OutboxEvent.objects.unscoped().filter(tenant_id=tenant.pk).order_by("id").values_list("event_type", flat=True)
    )


def test_an_alert_opens_resolves_when_the_condition_clears_and_reopens_when_it_returns(tenant: Tenant) -> None:
    condition = alerts.Condition("webhook_disabled", "endpoint:7", "Endpoint 7 is disabled", tenant_id=tenant.pk)
    assert alerts.evaluate([condition]).opened == 1
    assert alerts.evaluate([condition]).opened == 0  # still firing: one alert, not two
    assert alerts.evaluate([]).resolved == 1
    assert alerts.evaluate([condition]).reopened == 1
    alert = Alert.objects.using("system").get()
    assert alert.status == Alert.Status.OPEN and alert.resolved_at is None
    assert [e for e in events(tenant) if e.startswith("ops.alert.")] == [
        "ops.alert.opened",
        "ops.alert.resolved",
        "ops.alert.reopened",
    ]
    assert list(OperatorAction.objects.using("system").order_by("id").values_list("action", flat=True)) == [
        "ops.alert.open",
        "ops.alert.auto_resolve",
        "ops.alert.reopen",
    ]


def test_a_platform_alert_is_emitted_as_the_events_tenants_event_when_the_operator_acknowledges_it(
    operator: User, tenant: Tenant, settings: Any
) -> None:
    settings.OPS_EVENTS_TENANT = tenant.slug
    alerts.evaluate([alerts.Condition("no_leader", "scheduler", "No scheduler leader")])
    action = actions.AcknowledgeAlert(alert_id=Alert.objects.using("system").get().pk)
    action.check(operator)
    action.execute()
    assert [e for e in events(tenant) if e.startswith("ops.alert.")] == ["ops.alert.opened", "ops.alert.acknowledged"]


def test_the_rules_see_an_old_due_job_a_queue_without_workers_and_no_leader(data: ConsoleData, settings: Any) -> None:
    settings.OPS_ALERT_OLDEST_DUE_SECONDS = 300
    with connections["system"].cursor() as cursor:
        cursor.execute("UPDATE jobs_job SET available_at = now() - interval '1 hour' WHERE status = 'queued'")
    found = {(c.rule, c.subject) for c in alerts.conditions()}
    assert ("oldest_due", "default") in found
    assert ("no_worker", "default") in found
    assert ("no_leader", "scheduler") in found


def test_rollups_count_the_last_minutes_attempts_and_the_console_draws_them(reader: User, data: ConsoleData) -> None:
    process_due_jobs(max_jobs=10, budget_ms=5000)
    JobAttempt.objects.unscoped().update(finished_at=timezone.now() - timedelta(minutes=2))
    rollups.roll_up()
    rows = MinuteRollup.objects.using("system").filter(queue="default", finished__gt=0)
    assert sum(row.finished for row in rows) == JobAttempt.objects.unscoped().count() == 5
    assert sum(row.failures for row in rows) == 1
    rollups.roll_up()  # idempotent
    assert sum(row.finished for row in MinuteRollup.objects.using("system").filter(queue="default")) == 5
    trend = rollups.trends(window="1h")
    assert sum(v for _, v in trend["series"]["throughput"] if v) == 5
    per_tenant = rollups.trends(window="1h", tenant_id=data.tenant.pk)["series"]["throughput"]
    assert sum(v for _, v in per_tenant if v) == 3
    client = Client()
    client.force_login(reader)
    for window, bucket in (("1h", 1), ("24h", 15), ("7d", 120)):
        page = client.get("/admin/ops/queue/", {"window": window}).content.decode()
        charts = chart_data(page)
        assert set(charts) >= {"backlog", "throughput", "failure-rate", "wait-p95", "run-p95", "keyed", "replays"}
        throughput = charts["throughput"]
        assert throughput["unit"] == "/min" and len(throughput["x"]) == len(throughput["y"]) >= 1
        assert throughput["x"] == sorted(throughput["x"])  # epoch seconds: placed by time, not by index
        assert round(sum(v for v in throughput["y"] if v) * bucket) == 5
        assert charts["run-p95"]["unit"] == "ms" and charts["failure-rate"]["unit"] == "%"
        assert "Throughput: latest" in page


def chart_data(page: str) -> dict[str, dict[str, Any]]:
    """Each chart's data as the page hands it to uPlot (the figure's data-series)."""
    found = re.findall(r'<figure class="ops-chart" data-chart="([a-z0-9-]+)"[^>]* data-series="([^"]*)"', page)
    return {key: json.loads(html.unescape(text)) for key, text in found}


def test_metrics_need_the_token_or_a_staff_session(reader: User, data: ConsoleData, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'ballast_queue_jobs{queue="default",state="due"} 4.0' in body
    assert "ballast_dead_letters_24h 1.0" in body
    assert 'ballast_alerts{rule="oldest_due"} 1.0' in body
    families = {family.name: family for family in text_string_to_metric_families(body)}
    dead = families["ballast_jobs_dead_lettered"]
    assert dead.type == "counter"
    labels = {"job_type": "diagnostics.fail", "queue": "default"}
    assert any(s.labels == labels and s.value >= 1 for s in dead.samples)  # this process counts every test's
    assert families["ballast_job_run_seconds"].type == "histogram"
    client.force_login(reader)
    assert client.get("/metrics").status_code == 200
    assert Job.objects.unscoped().count() == 5  # reading changed nothing


def test_an_opening_alert_is_mailed_to_the_ops_addresses(tenant: Tenant, settings: Any) -> None:
    from ballast.emails.models import EmailDelivery

    settings.OPS_ALERT_EMAILS = ["oncall@example.com"]
    alerts.evaluate([alerts.Condition("webhook_disabled", "endpoint:1", "Endpoint 1 is disabled", tenant_id=tenant.pk)])
    alerts.evaluate([])  # resolving sends nothing
    delivery = EmailDelivery.objects.unscoped().get()
    assert delivery.recipients == ["oncall@example.com"] and "Endpoint 1 is disabled" in delivery.subject
    assert (delivery.email_type, delivery.related_type) == ("ops.alert", "alert")
    assert delivery.metadata == {"rule": "webhook_disabled", "change": "opened"}
