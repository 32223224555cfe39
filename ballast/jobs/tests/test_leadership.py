"""The leadership ticker and the service supervisor, in this process against the real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.db import connections, transaction

from ballast.jobs.models import JobAttempt
from ballast.jobs.scheduler.leader import Leadership
from ballast.jobs.scheduler.loop import leader_services
from ballast.jobs.scheduler.services import ServiceSpec, run_services
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import wait_for
from ballast.jobs.worker.claim import claim_next
from ballast.tenants.models import Tenant


def _system_dsn() -> str:
    db = settings.DATABASES["system"]
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def ticker(committed: None) -> Iterator[tuple[Leadership, threading.Event]]:
    leadership = Leadership(lease=3, renew_every=0.3, renew_deadline=1.5)
    stop = threading.Event()
    thread = threading.Thread(target=leadership.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield leadership, stop
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_renew_deadline_that_is_not_below_the_lease_is_refused() -> None:
    with pytest.raises(ValueError, match="must be above 0 and below JOBS_LEASE_SECONDS"):
        Leadership(lease=3, renew_every=1, renew_deadline=3)


def test_a_leader_that_cannot_renew_steps_down_while_its_lease_still_stands(
    ticker: tuple[Leadership, threading.Event],
) -> None:
    leadership, _ = ticker
    wait_for(lambda: leadership.held, timeout=10, what="leadership")
    term = leadership.current_term()
    assert term is not None

    # When every renewal blocks (the row is locked by another session), as behind a stalled network.
    blocker = psycopg.connect(_system_dsn())
    try:
        blocker.execute("SELECT 1 FROM jobs_schedulerleader WHERE id = 1 FOR UPDATE")
        locked_at = time.monotonic()
        wait_for(term.ended.is_set, timeout=10, what="the term to end")
        stepped_down_after = time.monotonic() - locked_at
        lease_left = blocker.execute(
            "SELECT extract(epoch FROM expires_at - clock_timestamp()) FROM jobs_schedulerleader WHERE id = 1"
        ).fetchone()
    finally:
        blocker.rollback()
        blocker.close()

    # Then it stopped leading within its renew deadline, while no other scheduler could yet take the lease.
    assert stepped_down_after <= leadership.renew_deadline + 0.2
    assert lease_left is not None and float(lease_left[0]) > 0
    assert not leadership.held
    wait_for(lambda: leadership.held, timeout=10, what="leadership again once renewals go through")
    assert leadership.current_term() is not term  # a new term: the services start over


def test_a_failing_service_iteration_drops_its_connections_and_runs_again(committed: None) -> None:
    """A Postgres restart kills the sessions a service holds: the next iteration must not reuse them."""
    backends: list[int] = []
    stop = threading.Event()

    def flaky(service_stop: threading.Event) -> None:
        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
            if len(backends) == 1:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # as a restart would
        if len(backends) == 2:
            stop.set()

    started = time.monotonic()
    runner = threading.Thread(
        target=run_services,
        args=(stop, Leadership(lease=3, renew_every=1, renew_deadline=2), [ServiceSpec("flaky", flaky, every=0.1)]),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=20)

    assert not runner.is_alive()
    assert len(backends) == 2 and backends[0] != backends[1]  # a fresh session after the failure
    assert time.monotonic() - started >= 0.5  # after a back-off, not in a tight loop


def test_a_new_leader_rescues_no_expired_lease_until_it_has_led_for_one_lease(tenant: Tenant, settings) -> None:
    """A lease that ran out while no scheduler reached the database may be a live worker's that was cut off
    too: the worker gets one lease to extend it, or to give back a job it never started, before rescue."""
    # Given a job whose lease (0.2 s) has run out, and a scheduler that has just become the leader.
    settings.JOBS_LEASE_SECONDS = 0.2
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    assert claim_next(queue="default", tenant_id=tenant.pk, worker="test:cut-off") is not None
    time.sleep(0.3)
    leadership = Leadership(lease=3, renew_every=1, renew_deadline=2)
    assert leadership.renew()
    term = leadership.current_term()
    assert term is not None
    (rescue,) = [spec.func for spec in leader_services(leadership) if spec.name == "rescue"]

    # When rescue runs within the term's first lease, then after it.
    rescue(term.ended)
    status_early = job_row(job.pk).status
    term.began -= leadership.lease
    rescue(term.ended)

    # Then only the second took the job back, charging the lost attempt.
    assert status_early == "running"
    assert job_row(job.pk).status == "queued"
    assert JobAttempt.objects.unscoped().filter(job_id=job.pk, outcome="lost").count() == 1
    leadership.release()


def test_the_ticker_renews_on_a_fresh_connection_after_postgres_killed_the_one_it_used(
    ticker: tuple[Leadership, threading.Event], caplog: pytest.LogCaptureFixture
) -> None:
    """A Postgres restart ends every session: the renewal after it must not fail on a dead connection (and
    risk the term), it takes a checked one from the pool."""
    leadership, _ = ticker
    wait_for(lambda: leadership.held, timeout=10, what="leadership")
    term = leadership.current_term()
    blocker = psycopg.connect(_system_dsn())
    try:
        # Every other session of the system role on this database ends, as a restart would end them.
        blocker.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user "
            "AND datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    finally:
        blocker.close()
        for alias in ("default", "system"):  # this thread's own sessions went too: the next test takes new ones
            connections[alias].close()
    with caplog.at_level("ERROR", logger="ballast.jobs.scheduler.leader"):
        time.sleep(4 * leadership.renew_every)

    assert "renewal failed" not in caplog.text
    assert leadership.current_term() is term
