"""METRICS_TENANT_LABELS: without it no metric carries a tenant label; with it the job counters and histograms do
(docs/observability.md). Each case counts known work in a fresh process (the labels are fixed when the metrics
are first built) and reads that process's exposition."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from ballast.jobs.tests.processes import process_env

COUNT_AND_SCRAPE = """
import django
django.setup()
from prometheus_client import generate_latest
from ballast.lib import metrics
metrics.jobs_enqueued([("diagnostics.echo", "default")], tenant_id=41)
metrics.job_started(job_type="diagnostics.echo", queue="default", tenant_id=41, wait_seconds=0.2)
metrics.job_ended(job_type="diagnostics.echo", queue="default", tenant_id=41, outcome="succeeded", run_seconds=0.1)
metrics.job_ended(job_type="diagnostics.echo", queue="default", tenant_id=42, outcome="retried", run_seconds=0.3)
metrics.job_ended(job_type="diagnostics.echo", queue="default", tenant_id=42, outcome="dead_lettered")
metrics.job_ended(job_type="diagnostics.echo", queue="default", tenant_id=42, outcome="cancelled")
metrics.delivery(channel="webhook", outcome="delivered")
metrics.throttled("token")
metrics.idempotency("executed")
print(generate_latest(metrics.scrape_registry()).decode())
"""

# The job counters and histograms: the metrics the docs say carry `tenant` with the setting on.
JOB_METRICS = {
    "ballast_jobs_enqueued_total",
    "ballast_jobs_started_total",
    "ballast_jobs_succeeded_total",
    "ballast_jobs_retried_total",
    "ballast_jobs_dead_lettered_total",
    "ballast_jobs_cancelled_total",
    "ballast_job_wait_seconds_count",
    "ballast_job_run_seconds_count",
}


def _scrape(tenant_labels: str) -> dict[str, list[dict[str, str]]]:
    env = process_env(METRICS_TENANT_LABELS=tenant_labels, DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", COUNT_AND_SCRAPE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    labels: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            labels.setdefault(sample.name, []).append(dict(sample.labels))
    return labels


def test_without_the_setting_no_metric_carries_a_tenant_label() -> None:
    labels = _scrape("false")

    assert JOB_METRICS <= labels.keys()
    assert [name for name, series in labels.items() if any("tenant" in found for found in series)] == []
    assert labels["ballast_jobs_succeeded_total"] == [{"job_type": "diagnostics.echo", "queue": "default"}]


def test_with_the_setting_the_job_counters_and_histograms_carry_the_tenant() -> None:
    labels = _scrape("true")

    for name in JOB_METRICS:
        assert labels[name] and all("tenant" in found for found in labels[name]), name
    assert labels["ballast_jobs_succeeded_total"] == [
        {"job_type": "diagnostics.echo", "queue": "default", "tenant": "41"}
    ]
    assert {found["tenant"] for found in labels["ballast_job_run_seconds_count"]} == {"41", "42"}
    # The rest stays bounded: deliveries, throttles and idempotency outcomes never carry it.
    for name in ("ballast_deliveries_total", "ballast_throttled_requests_total", "ballast_idempotency_requests_total"):
        assert labels[name] and not any("tenant" in found for found in labels[name]), name
