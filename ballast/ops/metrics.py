"""GET /metrics for Prometheus (prometheus-client). Every value is read from Postgres at scrape time (indexed
counts and the per-minute rollups), so any web process answers the same, except one counter of the answering
process: `ballast_throttle_fail_open_total`, the throttle checks it let through because Redis failed.
Bearer METRICS_TOKEN, or a staff session with ops.view_console."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ballast.api import throttling
from ballast.ops import idempotency_stats, selectors

SYSTEM = "system"


class BallastCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        snap = selectors.snapshot()
        depth = GaugeMetricFamily("ballast_queue_jobs", "Jobs by queue and state", labels=["queue", "state"])
        oldest = GaugeMetricFamily("ballast_queue_oldest_due_seconds", "Age of the oldest due job", labels=["queue"])
        workers = GaugeMetricFamily("ballast_queue_workers", "RQ workers listening", labels=["queue"])
        for queue in snap.queues:
            for state in ("due", "scheduled", "running"):
                depth.add_metric([queue.queue, state], getattr(queue, state))
            oldest.add_metric([queue.queue], queue.oldest_due_seconds or 0.0)
            workers.add_metric([queue.queue], queue.workers)
        yield from (depth, oldest, workers)
        yield GaugeMetricFamily("ballast_expired_leases", "Running jobs past their lease", value=snap.expired_leases)
        yield GaugeMetricFamily(
            "ballast_outbox_lag_seconds", "Age of the oldest pending outbox event", value=snap.outbox_lag_seconds or 0
        )
        yield GaugeMetricFamily(
            "ballast_dead_letters_24h", "Dead letters in the last 24 h", value=snap.dead_letters_24h
        )
        yield GaugeMetricFamily("ballast_scheduler_leader", "1 while a scheduler leads", value=int(snap.leader_live))
        yield GaugeMetricFamily("ballast_redis_up", "1 while Redis answers", value=int(snap.redis_ok))
        yield CounterMetricFamily(
            "ballast_throttle_fail_open",
            "API throttle checks let through because Redis failed, in the process that answers",
            value=throttling.FAIL_OPEN.value,
        )
        alerts = GaugeMetricFamily("ballast_alerts", "Alerts not resolved, by rule", labels=["rule"])
        for rule, count in selectors.open_alerts_by_rule():
            alerts.add_metric([rule], count)
        yield alerts
        last = GaugeMetricFamily(
            "ballast_last_minute", "The last rolled-up minute, by queue", labels=["queue", "measure"]
        )
        for row in selectors.last_rollup():
            for measure in ("finished", "failures", "wait_p95", "run_p50", "run_p95", "run_p99"):
                last.add_metric([row["queue"], measure], float(row[measure] or 0))
        yield last
        deliveries = GaugeMetricFamily("ballast_webhook_deliveries", "Webhook deliveries by status", labels=["status"])
        for status, count in selectors.webhook_deliveries_by_status():
            deliveries.add_metric([status], count)
        yield deliveries
        keyed = idempotency_stats.totals()
        requests = GaugeMetricFamily(
            "ballast_idempotency_requests_last_hour",
            "Keyed API requests in the last hour's complete minutes, by outcome (executed, replayed, 422, 409)",
            labels=["outcome"],
        )
        for outcome in ("executed", "replays", "conflicts", "in_flight"):
            requests.add_metric([outcome], keyed[outcome])
        yield requests
        yield GaugeMetricFamily(
            "ballast_idempotency_hit_rate_last_hour",
            "Replays over keyed API requests in the last hour",
            value=keyed["hit_rate"] or 0.0,
        )
        durations = HistogramMetricFamily(
            "ballast_job_duration_seconds",
            "Run time of the attempts that finished in the last hour",
            labels=["job_type"],
        )
        for row in selectors.duration_histograms():
            durations.add_metric([row["job_type"]], row["buckets"], row["sum"])
        yield durations


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    user = request.user
    return bool(user.is_authenticated and user.is_staff and user.has_perm("ops.view_console"))


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    if not _allowed(request):
        return HttpResponse(
            "Bearer METRICS_TOKEN or a staff session with ops.view_console required.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BallastCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
