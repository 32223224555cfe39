from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ballast.jobs.models import Job
from ballast.jobs.scheduler import periodic as maintenance
from ballast.jobs.worker.processing import process_due_jobs
from ballast.jobs.worker.run import run_now


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance, "_tasks", {})


def _enqueuer() -> maintenance.Enqueuer:
    return maintenance.Enqueuer(enqueued={}, owner_work=threading.Event())


def test_a_slot_starts_at_a_multiple_of_its_period_and_is_keyed_by_task_and_start() -> None:
    task = maintenance.PeriodicTask(name="tests.hourly", every=timedelta(hours=1), func=lambda: None)
    slot = task.slot_start(datetime(2026, 3, 4, 5, 59, 59, tzinfo=UTC))

    assert slot == datetime(2026, 3, 4, 5, tzinfo=UTC)
    assert task.key(slot) == "periodic:tests.hourly:2026-03-04T05:00:00+00:00"
    assert task.job_type == "periodic.tests.hourly" and task.queue == "maintenance"


@pytest.mark.usefixtures("clean_registry")
def test_each_task_gets_one_job_per_slot_whoever_enqueues_it_and_runs_it_as_a_job(committed: None) -> None:
    calls: list[str] = []

    @maintenance.periodic("tests.every_minute", every=timedelta(minutes=1))
    def every_minute() -> None:
        calls.append("minute")

    @maintenance.periodic("tests.broken", every=timedelta(minutes=1))
    def broken() -> None:
        raise RuntimeError("disk full")

    first = _enqueuer().run_once()
    again = _enqueuer().run_once()  # a new leader, or a second scheduler, in the same slot
    process_due_jobs(max_jobs=10, budget_ms=10_000)

    jobs = {job.job_type: job for job in Job.objects.unscoped().filter(job_type__startswith="periodic.tests.")}
    assert len(first) == 2 and again == []
    assert set(jobs) == {"periodic.tests.every_minute", "periodic.tests.broken"}
    assert jobs["periodic.tests.every_minute"].status == "succeeded" and calls == ["minute"]
    # A failing task is a failed attempt of its job: retried with backoff, its error on the row.
    assert jobs["periodic.tests.broken"].status == "queued" and jobs["periodic.tests.broken"].attempts == 1
    assert "disk full" in jobs["periodic.tests.broken"].last_error
    assert jobs["periodic.tests.broken"].queue == "maintenance"
    assert jobs["periodic.tests.every_minute"].tenant.slug == "ops"  # the platform tenant, created on first use


@pytest.mark.usefixtures("clean_registry")
def test_owner_tasks_go_to_the_queue_only_the_scheduler_serves(committed: None) -> None:
    @maintenance.periodic("tests.owner_only", every=timedelta(minutes=1), requires_owner=True)
    def owner_only() -> None:
        raise AssertionError("a worker ran an owner task")

    enqueuer = _enqueuer()
    enqueuer.run_once()
    report = process_due_jobs(max_jobs=10, budget_ms=2_000)  # what a web process or cron would run
    job = Job.objects.unscoped().get(job_type="periodic.tests.owner_only")
    by_id = run_now(job.pk)  # what an operator's run-now of one job does

    job = Job.objects.unscoped().get(pk=job.pk)
    assert job.queue == "maintenance-owner" and job.status == "queued" and report.processed == 0
    assert by_id.claimed == 0
    assert enqueuer.owner_work.is_set()  # the leader's owner worker is woken at once


def test_the_hot_tables_vacuum_runs_as_the_owner_and_clears_dead_rows(committed: None) -> None:
    from django.db import connections

    from ballast.jobs.job_handlers import vacuum_hot_tables

    with connections["owner"].cursor() as cursor:
        cursor.execute("CREATE TABLE churn (id int PRIMARY KEY, status text) WITH (autovacuum_enabled = false)")
        cursor.execute("INSERT INTO churn SELECT g, 'pending' FROM generate_series(1, 500) g")
        cursor.execute("UPDATE churn SET status = 'done'")
    try:
        maintenance.vacuum(["churn"])
        vacuum_hot_tables()  # the registered task's own tables exist and may be vacuumed
        with connections["owner"].cursor() as cursor:
            cursor.execute("SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables WHERE relname = 'churn'")
            dead, vacuums = cursor.fetchone()
    finally:
        with connections["owner"].cursor() as cursor:
            cursor.execute("DROP TABLE churn")

    assert vacuums >= 1 and dead == 0
