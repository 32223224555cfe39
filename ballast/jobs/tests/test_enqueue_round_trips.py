"""An enqueue outside any transaction is one round trip to Postgres: BEGIN, the tenant, the insert and COMMIT go
as one pipeline. Counted from libpq's own trace of the protocol (one ReadyForQuery ends each round trip)."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import IntegrityError, connections
from psycopg import pq

from ballast.jobs import prepared
from ballast.jobs.models import Job
from ballast.jobs.services import NewJob, enqueue, enqueue_many
from ballast.jobs.tests.conftest import queue_length
from ballast.outbox.models import OutboxEvent
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant


@contextmanager
def round_trips() -> Iterator[list[int]]:
    """The round trips the default connection makes inside the block (its count, once the block has ended)."""
    connection = connections["default"]
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    counted: list[int] = []
    with tempfile.TemporaryDirectory() as directory:
        trace = Path(directory) / "libpq.trace"
        with trace.open("w") as file:
            pgconn.trace(file.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield counted
            finally:
                pgconn.untrace()
        counted.append(trace.read_text().count("\tReadyForQuery\t"))


def test_an_enqueue_outside_a_transaction_commits_in_one_round_trip(tenant: Tenant) -> None:
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 0})  # the statement prepared

    with round_trips() as counted:
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})

    assert counted == [1]
    stored = Job.objects.unscoped().get(pk=job.pk)
    assert (stored.tenant_id, stored.status, stored.payload) == (tenant.pk, "queued", {"value": 1})
    assert AuditEntry.objects.unscoped().filter(action="job.enqueued", target_id=str(job.pk)).count() == 1
    assert OutboxEvent.objects.unscoped().filter(event_type="job.created", target_id=str(job.pk)).count() == 1
    assert queue_length() == 1
    assert connections["default"].connection.info.transaction_status == pq.TransactionStatus.IDLE


def test_many_jobs_outside_a_transaction_are_one_round_trip_too(tenant: Tenant) -> None:
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 0})

    with round_trips() as counted:
        jobs = enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": n}) for n in range(1, 51)])

    assert counted == [1]
    assert Job.objects.unscoped().filter(pk__in=[job.pk for job in jobs]).count() == 50


def test_inside_a_tenant_scope_the_enqueue_joins_the_callers_transaction(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), tenant_scope(tenant.pk):
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        raise RuntimeError("the caller's work failed")

    assert Job.objects.unscoped().count() == 0
    assert queue_length() == 0


def test_a_refused_insert_outside_a_transaction_commits_nothing_and_leaves_the_connection_idle(
    tenant: Tenant,
) -> None:
    with pytest.raises(IntegrityError):  # no such tenant: its foreign key refuses the job
        enqueue(tenant=tenant.pk + 1000, job_type="diagnostics.echo", payload={"value": 1})

    assert connections["default"].connection.info.transaction_status == pq.TransactionStatus.IDLE
    assert Job.objects.unscoped().count() == 0
    assert AuditEntry.objects.unscoped().filter(action="job.enqueued").count() == 0
    assert queue_length() == 0
    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2})  # the connection still works
    assert Job.objects.unscoped().get(pk=job.pk).status == "queued"


def test_a_tenant_transaction_sends_its_begin_and_tenant_with_its_first_statement(tenant: Tenant) -> None:
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 0})

    with round_trips() as counted, tenant_scope(tenant.pk):
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        assert Job.objects.get(pk=job.pk).payload == {"value": 1}  # the tenant's row, under its RLS policy

    assert counted == [3]  # BEGIN, the tenant and the insert; the select; COMMIT
    assert Job.objects.unscoped().get(pk=job.pk).status == "queued"


def test_a_tenant_transaction_that_runs_nothing_sends_nothing(tenant: Tenant) -> None:
    with round_trips() as counted, tenant_scope(tenant.pk):
        pass

    assert counted == [0]


class Interrupted(Exception):
    pass


def test_an_interruption_while_a_pipelined_statement_runs_is_what_the_caller_sees(tenant: Tenant) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted  # as a handler's deadline does

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted), tenant_scope(tenant.pk):
            prepared.rows("default", "SELECT pg_sleep(%(seconds)s)::text", {"seconds": 3})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})  # a working connection again
    assert Job.objects.unscoped().get(pk=job.pk).status == "queued"
