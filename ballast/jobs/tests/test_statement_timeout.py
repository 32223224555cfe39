"""Handler queries run under a statement_timeout of the time the handler has left: a query its deadline cuts
short does not go on running on the server, and the acknowledgement after it is not cut by it."""

from __future__ import annotations

import time

from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from ballast.jobs.models import Job
from ballast.jobs.services import enqueue
from ballast.jobs.tests import handlers  # noqa: F401  (registers the test job types)
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.worker.run import run_pair
from ballast.tenants.models import Tenant


def _enqueue(tenant: Tenant, job_type: str, payload: dict | None = None) -> Job:
    with transaction.atomic():
        return enqueue(tenant=tenant, job_type=job_type, payload=payload or {})


def _sleeping_queries_left(within: float = 1.0) -> int:
    """Sleeping test queries still active on the server, after waiting up to `within` s for them to end."""
    ends = time.monotonic() + within
    while True:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
                "AND query LIKE %s",
                ["%ballast-statement-timeout-test */"],
            )
            left = int(cursor.fetchone()[0])
        if left == 0 or time.monotonic() > ends:
            return left
        time.sleep(0.05)


def _milliseconds(setting: str) -> float:
    """A statement_timeout as current_setting shows it ('800ms', '5s', '0')."""
    for unit, factor in (("ms", 1), ("s", 1000), ("min", 60_000)):
        if setting.endswith(unit):
            return float(setting[: -len(unit)]) * factor
    return float(setting)


def test_a_query_longer_than_the_deadline_ends_with_it_on_the_server_too(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.sleeping_query")
    started = time.monotonic()

    report = run_pair(job.queue, job.tenant_id, limit=1).as_dict()

    assert time.monotonic() - started < 3.0  # a 1 s deadline, not the query's 30 s
    assert report["retried"] == 1
    assert "JobTimeout" in job_row(job.pk).last_error
    assert _sleeping_queries_left() == 0


def test_a_query_in_a_non_atomic_handlers_transaction_ends_with_the_deadline(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.sleeping_query_non_atomic")
    started = time.monotonic()

    report = run_pair(job.queue, job.tenant_id, limit=1).as_dict()

    assert time.monotonic() - started < 3.0
    assert report["retried"] == 1
    assert "JobTimeout" in job_row(job.pk).last_error
    assert _sleeping_queries_left() == 0


def test_queries_that_finish_in_time_succeed_under_a_timeout_of_the_time_left(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.queries_in_time")

    report = run_pair(job.queue, job.tenant_id, limit=1).as_dict()

    row = job_row(job.pk)
    assert report["succeeded"] == 1, row.last_error
    assert isinstance(row.result, dict)
    before, after = _milliseconds(row.result["before"]), _milliseconds(row.result["after_checkpoint"])
    assert 0 < after <= before <= 5000  # bounded by the 5 s timeout, and by less once time has passed


def test_a_non_atomic_handlers_transactions_carry_the_timeout_and_its_other_queries_do_not(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.queries_in_time_non_atomic")

    run_pair(job.queue, job.tenant_id, limit=1)

    row = job_row(job.pk)
    assert row.status == "succeeded", row.last_error
    assert isinstance(row.result, dict)
    assert 0 < _milliseconds(row.result["inside"]) <= 5000
    assert row.result["outside"] == "0"  # the session's own (no limit), as before the handler


def test_the_acknowledgement_is_not_cut_by_the_handlers_statement_timeout(tenant: Tenant) -> None:
    # The acknowledgement waits 1.5 s on a row lock, longer than the handler's whole 1 s timeout.
    job = _enqueue(tenant, "tests.acknowledged_behind_a_lock", {"hold": 1.5})

    report = run_pair(job.queue, job.tenant_id, limit=1).as_dict()

    row = job_row(job.pk)
    assert report["succeeded"] == 1, row.last_error
    assert row.status == "succeeded"


def _statements_about_the_timeout(tenant: Tenant, job_type: str) -> list[str]:
    job = _enqueue(tenant, job_type, {"value": 1} if job_type == "diagnostics.echo" else {"hold": 0})
    with CaptureQueriesContext(connections["default"]) as captured:
        run_pair(job.queue, job.tenant_id, limit=1)
    assert job_row(job.pk).status == "succeeded"
    return [query["sql"] for query in captured.captured_queries if "statement_timeout" in query["sql"]]


def test_the_timeout_rides_with_the_tenant_binding_and_costs_no_round_trip_of_its_own(tenant: Tenant) -> None:
    # diagnostics.echo has the default 300 s timeout: above the acknowledgement's budget, nothing to lift.
    (statement,) = _statements_about_the_timeout(tenant, "diagnostics.echo")

    assert "set_config('app.tenant_id'" in statement


def test_a_handler_with_a_timeout_under_the_acknowledgement_budget_pays_one_round_trip(tenant: Tenant) -> None:
    bind, lift = _statements_about_the_timeout(tenant, "tests.acknowledged_behind_a_lock")

    assert "set_config('app.tenant_id'" in bind
    assert "app.tenant_id" not in lift and "set_config('statement_timeout'" in lift
