"""GET /metrics for Prometheus (prometheus-client): the counters and histograms of ballast.lib.metrics (this
host's processes in multiprocess mode, else this process's, with its HTTP and process metrics), the pool
gauges, and gauges read from Postgres, cached for METRICS_CACHE_SECONDS. Bearer METRICS_TOKEN, or a staff
session with ops.view_console. docs/observability.md lists every metric."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ballast.lib import metrics
from ballast.lifecycle import governance
from ballast.ops import idempotency_stats, selectors
from ballast.ops.models import PreflightResult

SYSTEM = "system"


class DatabaseGauges(Collector):
    """The gauges read from Postgres (indexed counts and the per-minute rollups), the same from any web process.
    Read at most once per METRICS_CACHE_SECONDS in a process: a scrape in between is answered from memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read_at = -math.inf
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= float(settings.METRICS_CACHE_SECONDS):
                self._families = list(self._read())
                self._read_at = time.monotonic()
            return iter(self._families)

    def _read(self) -> Iterator[Metric]:
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
        alerts = GaugeMetricFamily("ballast_alerts", "Alerts not resolved, by rule", labels=["rule"])
        for rule, count in selectors.open_alerts_by_rule():
            alerts.add_metric([rule], count)
        yield alerts
        yield from _last_minute(selectors.last_rollup())
        deliveries = GaugeMetricFamily(
            "ballast_webhook_delivery_rows", "Webhook deliveries stored, by status", labels=["status"]
        )
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
        yield from _data_governance()


def _data_governance() -> Iterator[Metric]:
    """Each high-volume table's size and bloat signal (summed over its partitions), lock waits and deadlocks."""
    families = {
        "partitions": GaugeMetricFamily("ballast_table_partitions", "Leaf partitions, by table", labels=["table"]),
        "total_bytes": GaugeMetricFamily(
            "ballast_table_size_bytes", "Size with indexes and TOAST, by table", labels=["table"]
        ),
        "index_bytes": GaugeMetricFamily("ballast_table_index_size_bytes", "Size of the indexes", labels=["table"]),
        "live_tuples": GaugeMetricFamily("ballast_table_live_tuples", "Live rows (estimate)", labels=["table"]),
        "dead_tuples": GaugeMetricFamily(
            "ballast_table_dead_tuples", "Dead rows not yet vacuumed (estimate): the bloat signal", labels=["table"]
        ),
    }
    for stats in governance.table_stats():
        for measure, family in families.items():
            family.add_metric([stats.table], getattr(stats, measure))
    yield from families.values()
    locks = governance.lock_stats()
    yield CounterMetricFamily(
        "ballast_postgres_deadlocks", "Deadlocks detected in this database (pg_stat_database)", value=locks.deadlocks
    )
    yield GaugeMetricFamily(
        "ballast_postgres_waiting_locks", "Lock requests waiting now (pg_locks, not granted)", value=locks.waiting_locks
    )
    passed = GaugeMetricFamily(
        "ballast_preflight_check_passed", "1 when the check passed at the last manage.py preflight", labels=["check"]
    )
    checked = GaugeMetricFamily(
        "ballast_preflight_checked_timestamp_seconds", "When the check last ran (Unix time)", labels=["check"]
    )
    for result in PreflightResult.objects.using(SYSTEM).order_by("name"):
        passed.add_metric([result.name], int(result.ok))
        checked.add_metric([result.name], result.checked_at.timestamp())
    yield from (passed, checked)


# The last rolled-up minute (ops.rollups), one measure per metric: counts as they are, latencies in seconds.
LAST_MINUTE = (
    ("finished", "ballast_last_minute_finished_attempts", "Attempts that finished", 1.0),
    ("failures", "ballast_last_minute_failed_attempts", "Attempts that failed", 1.0),
    ("wait_p95", "ballast_last_minute_wait_p95_seconds", "95th percentile of the wait, from created to started", 1e-3),
    ("run_p50", "ballast_last_minute_run_p50_seconds", "Median run time", 1e-3),
    ("run_p95", "ballast_last_minute_run_p95_seconds", "95th percentile of the run time", 1e-3),
    ("run_p99", "ballast_last_minute_run_p99_seconds", "99th percentile of the run time", 1e-3),
)


def _last_minute(rows: list[dict[str, Any]]) -> Iterator[Metric]:
    for column, name, text, scale in LAST_MINUTE:
        family = GaugeMetricFamily(name, f"{text} in the last rolled-up minute, by queue", labels=["queue"])
        for row in rows:
            family.add_metric([row["queue"]], float(row[column] or 0) * scale)
        yield family


DATABASE_GAUGES = DatabaseGauges()
SHARE_WINDOW = metrics.ShareWindow(window=3600.0)


class ShareGauges(Collector):
    """The last hour's share of 429 responses and of delivery transport errors (metrics.ShareWindow over the
    counters this scrape exports), sampled at most once per METRICS_CACHE_SECONDS like the database gauges."""

    def __init__(self, window: metrics.ShareWindow) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._read_at = -math.inf
        self._shares: metrics.Shares | None = None

    def shares(self) -> metrics.Shares:
        with self._lock:
            if self._shares is None or time.monotonic() - self._read_at >= float(settings.METRICS_CACHE_SECONDS):
                self._shares = self.window.shares()
                self._read_at = time.monotonic()
            return self._shares

    def collect(self) -> Iterator[Metric]:
        shares = self.shares()
        yield GaugeMetricFamily(
            "ballast_http_429_last_hour_ratio",
            "Share of HTTP responses that were 429 Too Many Requests in the last hour (0 to 1)",
            value=shares.http_429_ratio,
        )
        transport = GaugeMetricFamily(
            "ballast_delivery_transport_errors_last_hour_ratio",
            "Share of delivery attempts that ended in a transport error in the last hour (0 to 1), by channel",
            labels=["channel"],
        )
        for channel in metrics.DELIVERY_CHANNELS:
            transport.add_metric([channel], shares.transport_error_ratio(channel))
        yield transport
        yield GaugeMetricFamily(
            "ballast_shares_window_seconds",
            "How far back the share gauges reach (an hour, less in a process's first hour)",
            value=shares.window_seconds,
        )


SHARE_GAUGES = ShareGauges(SHARE_WINDOW)


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
    return HttpResponse(
        generate_latest(metrics.scrape_registry(DATABASE_GAUGES, SHARE_GAUGES)), content_type=CONTENT_TYPE_LATEST
    )


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def exporter_app(path: str) -> WsgiApp:
    """GET /metrics over the multiprocess files in `path` (manage.py metrics_exporter), behind METRICS_TOKEN."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = settings.METRICS_TOKEN
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"GET /metrics\n"]
        if token and not hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"Bearer METRICS_TOKEN required.\n"]
        registry = metrics.multiprocess_registry(path)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(registry)]

    return app
