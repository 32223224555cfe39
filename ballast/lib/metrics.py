"""Ballast's Prometheus counters and histograms, counted in the process where the event happens (the web
process for enqueues, throttles and idempotency; the worker for starts, outcomes, wait and run times and
deliveries), and the registry a scrape reads.

With PROMETHEUS_MULTIPROC_DIR set (before the process starts), every process of a host writes its values to
files there (prometheus_client's multiprocess mode), and a scrape of any web process of that host, or of
`manage.py metrics_exporter`, sums them all. Without it, each process exports only its own.

Labels stay bounded: job types are the registered ones, queues the configured ones, outcomes a fixed set; a
`tenant` label only with METRICS_TENANT_LABELS. Counting never fails the caller: a metric that cannot be
written is logged and skipped.
"""

from __future__ import annotations

import atexit
import collections
import functools
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from ballast.lib.db_pool import pool_status

logger = logging.getLogger(__name__)

# Seconds: from a few milliseconds to an hour (waits behind a backlog, long handlers).
TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
JOB_OUTCOMES = ("succeeded", "retried", "dead_lettered", "cancelled")


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


@dataclass(frozen=True)
class _Metrics:
    tenant_labels: bool
    enqueued: Counter
    started: Counter
    ended: dict[str, Counter]
    wait: Histogram
    run: Histogram
    deliveries: Counter
    idempotency: Counter
    throttled: Counter
    throttle_fail_open: Counter
    maintenance: Histogram
    pool_connections: Gauge
    pool_waiting: Gauge


@functools.cache
def _metrics() -> _Metrics:
    """Built once per process, when first used (the labels depend on settings)."""
    tenant = bool(settings.METRICS_TENANT_LABELS)
    job = ["job_type", "queue", *(["tenant"] if tenant else [])]
    by_type = ["job_type", *(["tenant"] if tenant else [])]
    ended = {
        "succeeded": Counter("ballast_jobs_succeeded", "Job attempts that succeeded", job),
        "retried": Counter("ballast_jobs_retried", "Job attempts that failed and were scheduled again", job),
        "dead_lettered": Counter("ballast_jobs_dead_lettered", "Jobs that failed for good (dead letters)", job),
        "cancelled": Counter("ballast_jobs_cancelled", "Jobs cancelled, queued or running", job),
    }
    if multiprocess_dir():
        atexit.register(multiprocess.mark_process_dead, os.getpid())
    return _Metrics(
        tenant_labels=tenant,
        enqueued=Counter("ballast_jobs_enqueued", "Jobs created (committed)", job),
        started=Counter("ballast_jobs_started", "Job attempts started by a worker", job),
        ended=ended,
        wait=Histogram("ballast_job_wait_seconds", "From due to claimed, per attempt", by_type, buckets=TIME_BUCKETS),
        run=Histogram(
            "ballast_job_run_seconds", "Handler run time, per attempt that ran", by_type, buckets=TIME_BUCKETS
        ),
        deliveries=Counter(
            "ballast_deliveries", "Webhook and e-mail delivery attempts, by channel and outcome", ["channel", "outcome"]
        ),
        idempotency=Counter(
            "ballast_idempotency_requests",
            "API requests that carried an Idempotency-Key, by outcome (executed, replayed, conflict, in_flight)",
            ["outcome"],
        ),
        throttled=Counter("ballast_throttled_requests", "API requests answered 429, by throttle scope", ["scope"]),
        throttle_fail_open=Counter(
            "ballast_throttle_fail_open", "API throttle checks let through because Redis failed"
        ),
        maintenance=Histogram(
            "ballast_maintenance_run_seconds",
            "Data-lifecycle duties (partition upkeep, retention, upload cleanups), per completed run",
            ["task"],
            buckets=TIME_BUCKETS,
        ),
        pool_connections=Gauge(
            "ballast_db_pool_connections",
            "Connections of this process's Postgres pool, by alias and state (in_use, idle)",
            ["alias", "state"],
            multiprocess_mode="liveall",
        ),
        pool_waiting=Gauge(
            "ballast_db_pool_waiting_requests",
            "Requests of this process waiting for a pooled connection, by alias",
            ["alias"],
            multiprocess_mode="liveall",
        ),
    )


def _safely(what: str, count: functools.partial[None]) -> None:
    try:
        count()
    except Exception:  # a metric never fails the work it counts
        logger.warning("could not count %s", what, exc_info=True)


def _job_labels(job_type: str, queue: str, tenant_id: int | None) -> list[str]:
    labels = [job_type, queue]
    return [*labels, str(tenant_id)] if _metrics().tenant_labels else labels


def _type_labels(job_type: str, tenant_id: int | None) -> list[str]:
    return [job_type, str(tenant_id)] if _metrics().tenant_labels else [job_type]


def _inc_enqueued(job_type: str, queue: str, tenant_id: int) -> None:
    _metrics().enqueued.labels(*_job_labels(job_type, queue, tenant_id)).inc()


def jobs_enqueued(jobs: Iterable[tuple[str, str]], *, tenant_id: int, using: str = "default") -> None:
    """(job_type, queue) of each job created, counted once the caller's transaction commits."""
    for job_type, queue in jobs:
        transaction.on_commit(
            functools.partial(_safely, "an enqueue", functools.partial(_inc_enqueued, job_type, queue, tenant_id)),
            using=using,
        )


def _inc_started(job_type: str, queue: str, tenant_id: int, wait_seconds: float) -> None:
    m = _metrics()
    m.started.labels(*_job_labels(job_type, queue, tenant_id)).inc()
    m.wait.labels(*_type_labels(job_type, tenant_id)).observe(max(0.0, wait_seconds))


def job_started(*, job_type: str, queue: str, tenant_id: int, wait_seconds: float) -> None:
    _safely("a job start", functools.partial(_inc_started, job_type, queue, tenant_id, wait_seconds))


def _inc_ended(job_type: str, queue: str, tenant_id: int, outcome: str | None, run_seconds: float | None) -> None:
    m = _metrics()
    if outcome is not None:
        m.ended[outcome].labels(*_job_labels(job_type, queue, tenant_id)).inc()
    if run_seconds is not None:
        m.run.labels(*_type_labels(job_type, tenant_id)).observe(max(0.0, run_seconds))


def job_ended(
    *, job_type: str, queue: str, tenant_id: int, outcome: str | None, run_seconds: float | None = None
) -> None:
    """`outcome`: one of JOB_OUTCOMES, or None for an end that is none of them (a lost lease)."""
    _safely("a job's end", functools.partial(_inc_ended, job_type, queue, tenant_id, outcome, run_seconds))


def delivery(*, channel: str, outcome: str) -> None:
    """A delivery attempt's outcome (channel: webhook or email)."""
    _safely("a delivery", functools.partial(_inc, "deliveries", channel, outcome))


def idempotency(outcome: str) -> None:
    _safely("an idempotency outcome", functools.partial(_inc, "idempotency", outcome))


def throttled(scope: str) -> None:
    _safely("a throttled request", functools.partial(_inc, "throttled", scope))


def throttle_failed_open() -> None:
    _safely("a throttle that failed open", functools.partial(_inc, "throttle_fail_open"))


def _observe_maintenance(task: str, seconds: float) -> None:
    _metrics().maintenance.labels(task).observe(max(0.0, seconds))


def maintenance_run(*, task: str, seconds: float) -> None:
    """A data-lifecycle duty's completed run (`task`: a fixed name such as lifecycle.retention)."""
    _safely("a maintenance run", functools.partial(_observe_maintenance, task, seconds))


def _inc(name: str, *labels: str) -> None:
    counter: Counter = getattr(_metrics(), name)
    (counter.labels(*labels) if labels else counter).inc()


def _set_pools() -> None:
    m = _metrics()
    for pool in pool_status():
        m.pool_connections.labels(pool.alias, "in_use").set(pool.in_use)
        m.pool_connections.labels(pool.alias, "idle").set(pool.idle)
        m.pool_waiting.labels(pool.alias).set(pool.waiting)


_pools_recorded_at = [0.0]


def record_pool_status(*, every: float = 0.0) -> None:
    """This process's pools now, into the pool gauges (scrapes, and the worker's heartbeat at most once `every`
    seconds)."""
    now = time.monotonic()
    if now - _pools_recorded_at[0] < every:
        return
    _pools_recorded_at[0] = now
    _safely("the pool status", functools.partial(_set_pools))


# django-rq's own summary (the time its metrics view spends), registered on import: not Ballast's, and named
# against the conventions (a summary ending in _total).
_FOREIGN = frozenset({"rq_request_processing_seconds_total"})


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return (family for family in self.registry.collect() if family.name not in _FOREIGN)


def multiprocess_registry(path: str) -> CollectorRegistry:
    """The counters, histograms and gauges every process of the host wrote to the files in `path`."""
    files = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(files, path=path)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(files))
    return registry


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """What a scrape exports: the counters of this host's processes (multiprocess mode) or of this process
    (with its process and HTTP metrics), then `collectors`."""
    _metrics()
    record_pool_status()
    registry = (
        multiprocess_registry(multiprocess_dir()) if multiprocess_dir() else CollectorRegistry(auto_describe=False)
    )
    if not multiprocess_dir():
        registry.register(_Forward(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return registry


@dataclass(frozen=True)
class ProcessPool:
    pid: str
    alias: str
    in_use: int
    idle: int
    waiting: int


def pools_by_process() -> list[ProcessPool]:
    """The pool gauges of this host's processes (multiprocess mode) or of this process, by pid and alias."""
    record_pool_status()
    values: dict[tuple[str, str], dict[str, int]] = {}
    for family in scrape_registry().collect():
        if family.name not in ("ballast_db_pool_connections", "ballast_db_pool_waiting_requests"):
            continue
        for sample in family.samples:
            key = (sample.labels.get("pid", str(os.getpid())), sample.labels["alias"])
            measure = sample.labels.get("state", "waiting")
            values.setdefault(key, {})[measure] = int(sample.value)
    return [
        ProcessPool(pid, alias, found.get("in_use", 0), found.get("idle", 0), found.get("waiting", 0))
        for (pid, alias), found in sorted(values.items())
    ]


@dataclass(frozen=True)
class Shares:
    """Shares over the last `window_seconds` (0 to 1; 0 when nothing was counted): of HTTP responses that were
    429, and per channel of delivery attempts that ended in a transport error."""

    window_seconds: float
    responses: float
    throttled: float
    http_429: float
    deliveries: dict[str, float]
    transport_errors: dict[str, float]

    @property
    def http_429_ratio(self) -> float:
        return self.http_429 / self.responses if self.responses else 0.0

    def transport_error_ratio(self, channel: str) -> float:
        attempts = self.deliveries.get(channel, 0.0)
        return self.transport_errors.get(channel, 0.0) / attempts if attempts else 0.0


_HTTP_RESPONSES = "django_http_responses_total_by_status_total"
DELIVERY_CHANNELS = ("webhook", "email")


def _totals() -> dict[tuple[str, str], float]:
    """The counters the shares are made of, as a scrape of this process sees them now."""
    totals: dict[tuple[str, str], float] = {}
    for family in scrape_registry().collect():
        for sample in family.samples:
            if sample.name == _HTTP_RESPONSES:
                status = sample.labels.get("status", "")
                totals[("http", "all")] = totals.get(("http", "all"), 0.0) + sample.value
                if status == "429":
                    totals[("http", "429")] = totals.get(("http", "429"), 0.0) + sample.value
            elif sample.name == "ballast_throttled_requests_total":
                totals[("throttled", "all")] = totals.get(("throttled", "all"), 0.0) + sample.value
            elif sample.name == "ballast_deliveries_total":
                channel = sample.labels["channel"]
                totals[(channel, "all")] = totals.get((channel, "all"), 0.0) + sample.value
                if sample.labels["outcome"] == "transport_error":
                    key = (channel, "transport_error")
                    totals[key] = totals.get(key, 0.0) + sample.value
    return totals


class ShareWindow:
    """The shares over a sliding window, from the cumulative counters: each `shares()` call samples them, and the
    difference from the newest sample at least `window` old (else the oldest kept: the window is shorter for the
    first hour of a process) is the window's count. A counter that went down (a restart) counts from zero, as
    Prometheus's rate() does. Sampling costs one pass over this host's counters, no database query."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._samples: collections.deque[tuple[float, dict[tuple[str, str], float]]] = collections.deque()

    def shares(self, *, now: float | None = None) -> Shares:
        now = time.monotonic() if now is None else now
        totals = _totals()
        with self._lock:
            self._samples.append((now, totals))
            while len(self._samples) > 1 and self._samples[1][0] <= now - self.window:
                self._samples.popleft()
            since, base = self._samples[0]

        def delta(key: tuple[str, str]) -> float:
            current, before = totals.get(key, 0.0), base.get(key, 0.0)
            return current - before if current >= before else current

        return Shares(
            window_seconds=now - since,
            responses=delta(("http", "all")),
            throttled=delta(("throttled", "all")),
            http_429=delta(("http", "429")),
            deliveries={channel: delta((channel, "all")) for channel in DELIVERY_CHANNELS},
            transport_errors={channel: delta((channel, "transport_error")) for channel in DELIVERY_CHANNELS},
        )
