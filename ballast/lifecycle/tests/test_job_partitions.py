"""jobs_job is partitioned by month: retention drops a month only once all its jobs have finished, and an
idempotency key stays unique across months."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.services import enqueue
from ballast.lib.partitioned_tables import by_table
from ballast.lifecycle.retention import apply_retention
from ballast.lifecycle.tests.test_partitions import partition_names
from ballast.tenants.models import Tenant

JOBS = by_table("jobs_job").spec


def system_sql(statement: str, params: list[Any]) -> None:
    with connections["system"].cursor() as cursor:  # BYPASSRLS
        cursor.execute(statement, params)


def move_to_month(job: Job, month: date) -> None:
    """As if the job had been enqueued in `month` (a new partition key: Postgres moves the row)."""
    system_sql("UPDATE jobs_job SET retention_at = %s WHERE id = %s", [month.replace(day=10), job.pk])


def enqueue_echo(tenant: Tenant, **options: object) -> Job:
    with transaction.atomic():
        return enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, **options)  # type: ignore[arg-type]


def old_month(planted: list[str], month: date) -> str:
    JOBS.ensure(ahead=0, today=month)
    name = JOBS.partition_name(month)
    planted.append(f"DROP TABLE IF EXISTS {name}")
    return name


def test_retention_drops_a_month_of_finished_jobs_carries_a_far_future_job_forward_and_waits_for_a_running_one(
    tenant: Tenant, planted: list[str]
) -> None:
    january, february = old_month(planted, date(2019, 1, 1)), old_month(planted, date(2019, 2, 1))
    finished, failed = enqueue_echo(tenant), enqueue_echo(tenant)
    far_future = enqueue_echo(tenant, run_at=timezone.now() + timedelta(days=730))
    running = enqueue_echo(tenant)
    system_sql("UPDATE jobs_job SET status = 'succeeded', finished_at = now() WHERE id = %s", [finished.pk])
    system_sql("UPDATE jobs_job SET status = 'failed', finished_at = now() WHERE id = %s", [failed.pk])
    system_sql("UPDATE jobs_job SET status = 'running', lease_expires_at = now() + interval '1 hour' WHERE id = %s",
               [running.pk])  # fmt: skip
    DeadLetter.objects.unscoped("system").create(
        tenant=tenant, job_id=failed.pk, job_type=failed.job_type, reason="exhausted", attempts=3
    )
    for job in (finished, failed, far_future):
        move_to_month(job, date(2019, 1, 1))
    move_to_month(running, date(2019, 2, 1))

    preview = {d.partition: d.action for d in apply_retention(dry_run=True).decisions}
    assert preview[january] == preview[february] == "keep: holds unfinished jobs (or their dead letters)"

    done = apply_retention()

    assert january in done.dropped and january not in partition_names("jobs_job")
    assert february in partition_names("jobs_job")  # its running job has not finished
    jobs = Job.objects.unscoped("system")
    assert not jobs.filter(pk__in=[finished.pk, failed.pk]).exists()
    assert not DeadLetter.objects.unscoped("system").filter(job_id=failed.pk).exists()  # went with its job
    carried = jobs.get(pk=far_future.pk)
    assert (carried.status, carried.created_at, carried.available_at) == (
        "queued",
        far_future.created_at,
        far_future.available_at,
    )
    assert carried.retention_at > timezone.now() - timedelta(minutes=5)  # now in this month's partition
    assert jobs.filter(pk=running.pk, status="running").exists()


def test_an_idempotency_key_used_in_an_earlier_month_returns_that_months_job(
    tenant: Tenant, planted: list[str]
) -> None:
    old_month(planted, date(2019, 1, 1))
    first = enqueue_echo(tenant, idempotency_key="order-7")
    move_to_month(first, date(2019, 1, 1))

    again = enqueue_echo(tenant, idempotency_key="order-7")

    assert (again.pk, again.created) == (first.pk, False)
    assert Job.objects.unscoped("system").filter(idempotency_key="order-7").count() == 1


def test_two_enqueues_of_one_key_at_the_same_time_create_one_job(tenant: Tenant) -> None:
    """No unique index holds keys across partitions: the second enqueue must wait for the first one's commit and
    then find its job, not miss the uncommitted row and insert a twin."""
    inserted, results, errors = threading.Event(), {}, []

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1},
                                           idempotency_key="k")  # fmt: skip
                inserted.set()
                threading.Event().wait(0.5)  # the second enqueue runs meanwhile
        except Exception as exc:
            errors.append(exc)
        finally:
            inserted.set()
            connections.close_all()

    def second() -> None:
        try:
            inserted.wait(10)
            results["second"] = enqueue_echo(tenant, idempotency_key="k")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors, errors
    assert results["second"].pk == results["first"].pk and results["second"].created is False
    assert Job.objects.unscoped("system").filter(idempotency_key="k").count() == 1
