from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import django_rq
import pytest
from django.db import connections
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ballast.jobs import wakeups
from ballast.jobs.models import Job
from ballast.jobs.tests.processes import Processes
from ballast.tenants.models import Tenant
from ballast.tenants.tests.factories import TenantFactory
from config.tests.redis_fixtures import private_redis  # noqa: F401  (fixture)


@pytest.fixture
def redis() -> Iterator[object]:
    """The test Redis database, empty before and after."""
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def tenant(committed: None, redis: object) -> Tenant:
    return TenantFactory.create(slug="acme")


@pytest.fixture
def other_tenant(committed: None) -> Tenant:
    return TenantFactory.create(slug="globex")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        # The processes' own pooled sessions are gone; ours may have idled through a server-side change.
        for connection in connections.all():
            connection.close()


def job_row(job_id: int) -> Job:
    """A job as the system role sees it now (no tenant scope needed)."""
    return Job.objects.unscoped().get(pk=job_id)


def statuses(job_ids: list[int]) -> dict[str, int]:
    rows = Job.objects.unscoped().filter(pk__in=job_ids).values_list("status", flat=True)
    counts: dict[str, int] = {}
    for status in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def queue_length(name: str = "default") -> int:
    """Wake-up messages in an RQ queue, once the commits so far have had theirs sent (JOBS_WAKE_IN_BACKGROUND)."""
    wakeups.flush()
    return int(wakeups.rq_queue(name).count)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """This process's spans, kept by the SDK's in-memory exporter for the test; the API's no-op tracer again after
    (the global provider is set once per process by design, so the test puts the previous one back)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done
    trace._TRACER_PROVIDER_SET_ONCE._done = False
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE._done = saved
