"""Retention cannot drop a row that changed after it decided: it detaches a droppable partition first, decides
again on rows nothing can change any more, and attaches the partition back when they must stay. Outbox events
not yet delivered keep their month."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import connections

from ballast.jobs.models import Job
from ballast.jobs.services import retry_job
from ballast.lib.partitioned_tables import by_table
from ballast.lib.partitioning import Partition, RangePartitioned
from ballast.lifecycle.retention import apply_retention
from ballast.lifecycle.tests.conftest import owner_sql
from ballast.lifecycle.tests.test_job_partitions import JOBS, enqueue_echo, move_to_month, old_month, system_sql
from ballast.lifecycle.tests.test_partitions import partition_names
from ballast.tenants.models import AuditEntry, Tenant

JANUARY = date(2019, 1, 1)
OUTBOX = by_table("outbox_outboxevent").spec


def _failed_job_in_january(tenant: Tenant, planted: list[str]) -> tuple[Job, str]:
    partition = old_month(planted, JANUARY)
    job = enqueue_echo(tenant)
    system_sql("UPDATE jobs_job SET status = 'failed', finished_at = now() WHERE id = %s", [job.pk])
    move_to_month(job, JANUARY)
    return Job.objects.unscoped("system").get(pk=job.pk), partition


def _around_detach(monkeypatch: pytest.MonkeyPatch, name: str, before: Callable[[], None] | None = None,
                   after: Callable[[], None] | None = None) -> None:  # fmt: skip
    """Run `before` / `after` around the detach of partition `name`: between retention's first look and the drop."""
    original = RangePartitioned.detach

    def detach(self: RangePartitioned, partition: Partition, **kwargs: Any) -> None:
        if partition.name == name and before:
            before()
        original(self, partition, **kwargs)
        if partition.name == name and after:
            after()

    monkeypatch.setattr(RangePartitioned, "detach", detach)


def _retried(job: Job) -> bool:
    return AuditEntry.objects.unscoped("system").filter(action="job.retried", target_id=str(job.pk)).exists()


def test_a_job_retried_after_retention_decided_to_drop_its_month_is_kept(
    tenant: Tenant, planted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job, january = _failed_job_in_january(tenant, planted)
    preview = {d.partition: d.action for d in apply_retention(dry_run=True).decisions}
    assert preview[january] == "drop"  # all its jobs have finished: droppable at first look

    def retry() -> None:
        retry_job(job=job, actor="operator")

    _around_detach(monkeypatch, january, before=retry)

    report = apply_retention()

    actions = {d.partition: d.action for d in report.decisions}
    assert actions[january] == (
        "keep: holds unfinished jobs (or their dead letters) (found once detached; attached back)"
    )
    assert january in partition_names("jobs_job")
    assert Job.objects.unscoped("system").get(pk=job.pk).status == "queued"  # the retry the audit log records
    assert _retried(job)


def test_a_retry_that_comes_after_the_detach_finds_no_job_and_records_nothing(
    tenant: Tenant, planted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job, january = _failed_job_in_january(tenant, planted)
    errors: list[Exception] = []

    def retry() -> None:
        try:
            retry_job(job=job, actor="operator")
        except Exception as exc:
            errors.append(exc)

    _around_detach(monkeypatch, january, after=retry)

    report = apply_retention()

    assert january in report.dropped and january not in partition_names("jobs_job")
    assert [type(error) for error in errors] == [Job.DoesNotExist]
    assert not Job.objects.unscoped("system").filter(pk=job.pk).exists() and not _retried(job)


def test_a_partition_left_detached_with_an_unfinished_job_is_attached_back_not_dropped(
    tenant: Tenant, planted: list[str]
) -> None:
    january = old_month(planted, JANUARY)
    job = enqueue_echo(tenant)  # queued: unfinished
    move_to_month(job, JANUARY)
    owner_sql(f"ALTER TABLE jobs_job DETACH PARTITION {january}")  # then the retention run died

    preview = {d.partition: d.action for d in apply_retention(dry_run=True).decisions}
    report = {d.partition: d.action for d in apply_retention().decisions}

    assert preview[january] == "keep: holds unfinished jobs (or their dead letters)"
    assert report[january].startswith("keep: holds unfinished jobs") and "attached back" in report[january]
    assert january in JOBS.partition_names()
    assert Job.objects.unscoped("system").get(pk=job.pk).status == "queued"


def _insert_event(tenant: Tenant, status: str) -> int:
    with connections["system"].cursor() as cursor:  # BYPASSRLS: rows of any tenant, at any time
        cursor.execute(
            "INSERT INTO outbox_outboxevent (tenant_id, event_id, event_type, actor, target_type, target_id, "
            "occurred_at, version, payload, correlation_id, causation_id, traceparent, created_at, status, attempts, "
            "next_attempt_at, last_error) VALUES (%s, gen_random_uuid(), 'job.created', 'system', 'job', '1', "
            "'2019-01-10', 1, '{}', '', '', '', '2019-01-10', %s, 0, now() + interval '1 day', '') RETURNING id",
            [tenant.pk, status],
        )
        return int(cursor.fetchone()[0])


def test_a_month_holding_an_undelivered_outbox_event_is_kept_until_it_is_delivered(
    tenant: Tenant, planted: list[str]
) -> None:
    OUTBOX.ensure(ahead=0, today=JANUARY)
    january = OUTBOX.partition_name(JANUARY)
    planted.append(f"DROP TABLE IF EXISTS {january}")
    _insert_event(tenant, "delivered")
    pending = _insert_event(tenant, "pending")  # not relayed yet: its subscribers and webhooks still wait for it

    kept = {d.partition: d.action for d in apply_retention().decisions}

    assert kept[january] == "keep: holds an outbox event not yet delivered"
    assert january in OUTBOX.partition_names()

    system_sql("UPDATE outbox_outboxevent SET status = 'delivered', delivered_at = now() WHERE id = %s", [pending])
    done = apply_retention()

    assert january in done.dropped and january not in OUTBOX.partition_names()
