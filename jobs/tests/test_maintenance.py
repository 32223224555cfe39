from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.scheduler import periodic as maintenance


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance, "_tasks", {})


@pytest.mark.usefixtures("clean_registry")
def test_a_registered_task_runs_when_due_and_a_failing_one_does_not_stop_the_others() -> None:
    calls: list[str] = []

    @maintenance.periodic("tests.every_minute", every=timedelta(minutes=1))
    def every_minute() -> None:
        calls.append("minute")

    @maintenance.periodic("tests.broken", every=timedelta(seconds=10))
    def broken() -> None:
        raise RuntimeError("disk full")

    first = maintenance.run_due(now=1000.0)
    too_soon = maintenance.run_due(now=1030.0)
    later = maintenance.run_due(now=1061.0)

    assert first == ["tests.every_minute", "tests.broken"]
    assert too_soon == ["tests.broken"]
    assert later == ["tests.every_minute", "tests.broken"]
    assert calls == ["minute", "minute"]


def test_the_hot_tables_vacuum_runs_as_the_owner_and_clears_dead_rows(committed: None) -> None:
    from django.db import connections

    from jobs.outbox_wiring import vacuum_hot_tables

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
