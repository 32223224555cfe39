"""The data-governance figures and `manage.py governance_report`, after real work: a retention run that drops a
partition, partition upkeep, an uploads cleanup, a daily snapshot."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction

from ballast.jobs.services import enqueue
from ballast.lib.partitioned_tables import by_table
from ballast.lifecycle import governance
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.lifecycle.models import MaintenanceRun, TableSizeSnapshot
from ballast.lifecycle.retention import apply_retention
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from ballast.uploads import cleanup

ATTEMPTS = by_table("jobs_jobattempt")
OLD = date(2019, 1, 10)


def _report(*args: str) -> dict:
    out = io.StringIO()
    call_command("governance_report", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_report_has_the_figures_of_a_retention_run_a_cleanup_and_a_snapshot(
    tenant: Tenant, planted: list[str]
) -> None:
    ATTEMPTS.spec.ensure(ahead=0, today=OLD)
    old_attempts = ATTEMPTS.spec.partition_name(OLD.replace(day=1))
    planted.append(f"DROP TABLE IF EXISTS {old_attempts}")
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_jobattempt (tenant_id, job_id, attempt, worker, started_at, outcome, error, traceback) "
            "VALUES (%s, %s, 1, 'w', %s, 'lost', '', '')",
            [tenant.pk, job.pk, OLD],
        )
    ensure_all_partitions()
    apply_retention(dry_run=True)  # a dry run is not a run of the duty
    apply_retention()
    with tenant_scope(tenant.pk):
        cleanup.clean_intents(tenant_id=tenant.pk)
    governance.take_snapshot()
    governance.take_snapshot()  # safe twice: one row per table and day

    report = _report("--days", "7")

    assert report["days"] == 7
    assert old_attempts in [item["partition"] for item in report["partitions"]["dropped"]]
    cleanup_runs = {row["task"]: row for row in report["cleanup"]}
    assert cleanup_runs["lifecycle.retention"]["runs"] == 1
    assert cleanup_runs["lifecycle.partitions"]["runs"] >= 1
    assert cleanup_runs["uploads.cleanup.intents"]["runs"] == 1
    assert all(row["max_seconds"] <= row["total_seconds"] for row in cleanup_runs.values())
    tables = {row["table"]: row for row in report["tables"]}
    attempts = tables["jobs_jobattempt"]
    assert attempts["partitions"] >= 1 and attempts["total_bytes"] >= attempts["index_bytes"] > 0
    assert 0.0 <= attempts["dead_ratio"] <= 1.0
    assert [point["day"] for point in attempts["trend"]] == [date.today().isoformat()]
    assert set(tables) == {table.table for table in governance.tables()}
    assert TableSizeSnapshot.objects.using("system").count() == len(tables)
    locks = report["locks"]
    assert locks["waiting_now"] >= 0 and locks["deadlocks_in_window"] == 0
    assert locks["deadlocks_total"] >= 0


def test_old_runs_and_snapshots_fall_out_of_the_window(committed: None) -> None:
    long_ago = governance.timezone.now() - timedelta(days=10)
    governance.record_run(task="lifecycle.retention", started_at=long_ago, seconds=2.5, created=[], dropped=["x_p1"])
    governance.take_snapshot(day=long_ago.date())

    week = _report()
    fortnight = _report("--days", "14")

    assert week["partitions"]["dropped"] == [] and week["cleanup"] == []
    assert week["locks"]["deadlocks_in_window"] is None  # no snapshot in the window
    assert fortnight["partitions"]["dropped"] == [{"partition": "x_p1", "at": long_ago.isoformat()}]
    expected = {"task": "lifecycle.retention", "runs": 1, "total_seconds": 2.5, "max_seconds": 2.5}
    assert fortnight["cleanup"] == [expected]
    assert MaintenanceRun.objects.using("system").count() == 1


@pytest.mark.parametrize("days", ["0", "400"])
def test_a_window_out_of_range_is_refused(days: str) -> None:
    with pytest.raises(CommandError, match="--days must be between 1 and 366"):
        call_command("governance_report", "--days", days)


def test_the_text_report_names_each_section(committed: None) -> None:
    out = io.StringIO()
    call_command("governance_report", stdout=out)

    text = out.getvalue()
    for heading in ("Partitions created:", "Partitions hit by queries:", "Cleanup times:", "Tables (", "Locks:"):
        assert heading in text
