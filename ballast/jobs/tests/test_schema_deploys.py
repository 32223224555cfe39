"""A migration that alters jobs_job while workers drain a backlog does not stop processing: the hot prepared
statements (jobs.prepared) keep their result types, and one invalidated anyway is prepared again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connections, transaction

from ballast.jobs import prepared
from ballast.jobs.services import NewJob, enqueue_many
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.tenants.models import Tenant


def _job_type_length() -> int:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'jobs_job' AND column_name = 'job_type'"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _alter_job_type(length: int) -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"ALTER TABLE jobs_job ALTER COLUMN job_type TYPE varchar({length})")


@pytest.fixture
def job_type_restored(committed: None) -> Iterator[int]:
    """The column's length now; put back afterwards, whatever the test did to it."""
    length = _job_type_length()
    try:
        yield length
    finally:
        if _job_type_length() != length:
            _alter_job_type(length)


def _counts(job_ids: list[int]) -> tuple[int, int]:
    """(succeeded jobs, successful attempts) of these jobs."""
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM jobs_job WHERE id = ANY(%(ids)s) AND status = 'succeeded'), "
            "(SELECT count(*) FROM jobs_jobattempt WHERE job_id = ANY(%(ids)s) AND outcome = 'succeeded')",
            {"ids": job_ids},
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.timeout(180)
def test_altering_a_column_of_jobs_job_mid_drain_stops_no_worker(
    tenant: Tenant, processes: Processes, job_type_restored: int
) -> None:
    with transaction.atomic():
        jobs = enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": n}) for n in range(600)])
    job_ids = [job.pk for job in jobs]
    names = ["worker-0", "worker-1"]
    for name in names:
        processes.worker("default", name=name)
    processes.scheduler()
    wait_for(lambda: _counts(job_ids)[0] >= 50, timeout=60, what="the drain to start")

    _alter_job_type(job_type_restored + 50)  # what AlterField(max_length=...) emits

    assert _counts(job_ids)[0] < len(job_ids)  # altered mid-drain
    wait_for(lambda: _counts(job_ids)[0] == len(job_ids), timeout=60, what="the drain to finish")
    assert _counts(job_ids) == (len(job_ids), len(job_ids))  # each succeeded once
    processes.stop_all()
    for name in names:
        assert "Traceback" not in processes.log(name), processes.log(name)[-3000:]


def test_a_statement_whose_result_type_changed_is_prepared_again_outside_a_transaction(
    committed: None, job_type_restored: int, settings
) -> None:
    settings.JOBS_PREPARED_STATEMENTS = True
    statement = "SELECT job_type FROM jobs_job WHERE id = %(id)s"
    assert prepared.rows("system", statement, {"id": 0}) == []  # prepared on this connection

    owner = connections["owner"].settings_dict
    with psycopg.connect(  # another session, as a deploy's
        host=owner["HOST"], port=owner["PORT"] or 5432, user=owner["USER"], password=owner["PASSWORD"],
        dbname=connections["owner"].settings_dict["NAME"], autocommit=True,
    ) as other:  # fmt: skip
        other.execute(f"ALTER TABLE jobs_job ALTER COLUMN job_type TYPE varchar({job_type_restored + 50})")

    assert prepared.rows("system", statement, {"id": 0}) == []  # no "cached plan must not change result type"


def test_an_enqueue_outside_a_transaction_goes_on_across_a_migration_of_jobs_job(
    tenant: Tenant, job_type_restored: int, settings
) -> None:
    settings.JOBS_PREPARED_STATEMENTS = True
    before = enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": 1})])  # prepared, committed

    _alter_job_type(job_type_restored + 50)  # the owner's session, as a deploy's

    after = enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": 2})])
    assert connections["default"].connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_job WHERE id IN (%s, %s)", [before[0].pk, after[0].pk])
        assert cursor.fetchone() == (2,)
