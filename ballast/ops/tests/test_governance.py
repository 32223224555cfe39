"""The data-governance figures where operators meet them: the weekly mail (a real SMTP server), the console page,
the metrics."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.test import Client
from prometheus_client import REGISTRY

from ballast.emails.models import EmailDelivery
from ballast.emails.tests.conftest import Mailbox, mailbox, smtp  # noqa: F401  (fixtures)
from ballast.jobs.scheduler.periodic import database_now, platform_tenant_id, tasks
from ballast.jobs.services import enqueue
from ballast.jobs.worker.run import run_now
from ballast.lib import preflight, redis_client
from ballast.lifecycle import governance
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.ops.models import PreflightResult

TOKEN = "metrics-token-for-tests-0123456789abcdef"


def _run_weekly_slot() -> dict[str, int]:
    (task,) = [task for task in tasks() if task.name == "ops.governance_report"]
    slot = task.slot_start(database_now())
    with transaction.atomic():
        job = enqueue(
            tenant=platform_tenant_id(),
            job_type=task.job_type,
            payload={"task": task.name, "slot": slot.isoformat()},
            idempotency_key=task.key(slot),
        )
    return run_now(job.pk).as_dict()


def test_the_weekly_job_mails_the_report_to_ops_report_emails_once_per_slot(
    committed: None,
    smtp: Mailbox,  # noqa: F811
    settings: Any,
) -> None:
    settings.OPS_REPORT_EMAILS = ["ops@example.com", "dba@example.com"]
    ensure_all_partitions()  # a run of partition upkeep the report counts

    assert _run_weekly_slot()["succeeded"] == 1
    (delivery,) = EmailDelivery.objects.unscoped().filter(email_type="ops.governance_report")
    assert run_now(delivery.job_id).as_dict()["succeeded"] == 1
    _run_weekly_slot()  # the slot's job again (a retry, a second scheduler): the same keyed delivery

    (message,) = smtp.accepted
    assert message["X-Envelope-To"] == "ops@example.com, dba@example.com"
    assert str(message["Subject"]).startswith("[Ballast] Data governance, ")
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    assert "Cleanup times:" in body and "lifecycle.partitions: 1 runs" in body
    assert "jobs_jobattempt:" in body and "Locks: " in body
    assert EmailDelivery.objects.unscoped().filter(email_type="ops.governance_report").count() == 1


def test_without_recipients_the_weekly_job_sends_nothing(committed: None, settings: Any) -> None:
    settings.OPS_REPORT_EMAILS = []

    assert _run_weekly_slot()["succeeded"] == 1
    assert not EmailDelivery.objects.unscoped().exists()


def test_the_console_page_shows_the_report_and_refuses_a_bad_window(reader: Any) -> None:
    governance.take_snapshot()
    client = Client()
    client.force_login(reader)

    page = client.get("/admin/ops/governance/?days=14")
    bad = client.get("/admin/ops/governance/?days=0")
    anonymous = Client().get("/admin/ops/governance/")

    assert page.status_code == 200
    html = page.content.decode()
    for section in ('id="partitions"', 'id="cleanup"', 'id="tables"', 'id="locks"'):
        assert section in html
    assert 'data-table="jobs_jobattempt"' in html and 'value="14"' in html
    assert bad.status_code == 400 and "days must be between 1 and 366" in bad.content.decode()
    assert anonymous.status_code == 302  # to the admin login


def test_the_metrics_carry_table_sizes_locks_and_maintenance_durations(committed: None, settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_CACHE_SECONDS = 0
    before = REGISTRY.get_sample_value("ballast_maintenance_run_seconds_count", {"task": "lifecycle.partitions"})

    ensure_all_partitions()
    body = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    after = REGISTRY.get_sample_value("ballast_maintenance_run_seconds_count", {"task": "lifecycle.partitions"})
    assert after == (before or 0.0) + 1
    assert re.search(r'^ballast_table_size_bytes\{table="jobs_jobattempt"\} [1-9]', body, re.M)
    assert re.search(r'^ballast_table_dead_tuples\{table="jobs_jobattempt"\} \d', body, re.M)
    assert "# TYPE ballast_postgres_deadlocks_total counter" in body
    assert re.search(r"^ballast_postgres_waiting_locks \d", body, re.M)


def test_a_preflight_run_leaves_each_checks_last_result_for_the_metrics_and_the_page(
    reader: Any, settings: Any
) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_CACHE_SECONDS = 0
    settings.REDIS_DSN = "redis://127.0.0.1:1/0"  # the redis check fails
    try:
        preflight.run_checks(skip_processes=True)
    finally:
        redis_client.REQUEST_BREAKER.reset()
    client = Client()
    client.force_login(reader)

    body = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    page = client.get("/admin/ops/governance/").content.decode()

    assert 'ballast_preflight_check_passed{check="redis"} 0.0' in body
    assert 'ballast_preflight_check_passed{check="postgres"} 1.0' in body
    assert re.search(r'^ballast_preflight_checked_timestamp_seconds\{check="redis"\} 1\.\d+e\+09', body, re.M)
    assert 'data-check="redis"' in page and "is unreachable" in page
    assert PreflightResult.objects.using("system").get(name="redis").ok is False
