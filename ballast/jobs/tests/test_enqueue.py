from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from ballast.jobs import wakeups
from ballast.jobs.models import Job
from ballast.jobs.scheduler.dispatch import dispatch_pass
from ballast.jobs.services import EnqueueError, IdempotencyConflict, NewJob, enqueue, enqueue_many
from ballast.jobs.tests.concurrency import at_once
from ballast.jobs.tests.conftest import queue_length
from ballast.outbox.models import KEY_COLUMN_LENGTH, OutboxEvent
from ballast.tenants.models import AuditEntry, Tenant


def test_the_message_is_pushed_only_after_commit(tenant: Tenant) -> None:
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        assert queue_length() == 0  # nothing in Redis while the row is uncommitted

    assert queue_length() == 1
    assert Job.objects.unscoped().get(pk=job.pk).status == "queued"
    assert AuditEntry.objects.unscoped().filter(action="job.enqueued", target_id=str(job.pk)).count() == 1


def test_a_rolled_back_transaction_leaves_no_job_and_no_message(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        raise RuntimeError("business logic failed")

    assert Job.objects.unscoped().count() == 0
    assert queue_length() == 0


def test_a_rolled_back_savepoint_keeps_the_other_jobs_messages(tenant: Tenant) -> None:
    with transaction.atomic():
        kept = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2})
            raise RuntimeError
        later = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 3})

    assert sorted(Job.objects.unscoped().values_list("pk", flat=True)) == [kept.pk, later.pk]
    assert queue_length() == 1  # one wake-up for the committed jobs


def test_a_burst_of_single_job_transactions_becomes_one_wake_up(tenant: Tenant) -> None:
    for value in range(120):
        with transaction.atomic():
            enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": value})

    assert queue_length() == 1  # the pair's wake-up is pending: later commits only find its key


def test_bulk_enqueue_writes_jobs_audit_and_events_in_order_with_one_wake_up(tenant: Tenant) -> None:
    with transaction.atomic():
        jobs = enqueue_many(
            tenant=tenant,
            jobs=[NewJob("diagnostics.echo", {"value": value}, idempotency_key=f"k{value}") for value in range(300)],
        )
        again = enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": 7}, idempotency_key="k7")])

    assert [job.payload["value"] for job in jobs] == list(range(300)) and all(job.created for job in jobs)
    assert again[0].pk == jobs[7].pk and not again[0].created
    assert AuditEntry.objects.unscoped().filter(action="job.enqueued").count() == 300
    assert OutboxEvent.objects.unscoped().filter(event_type="job.created").count() == 300
    assert queue_length() == 1


def test_available_at_comes_from_the_database_clock(tenant: Tenant) -> None:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT now()")
        (db_before,) = cursor.fetchone()
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT available_at <= now(), available_at >= %s FROM jobs_job WHERE id = %s", [db_before, job.pk]
        )
        assert cursor.fetchone() == (True, True)


def test_a_scheduled_job_gets_no_message_until_it_is_due(tenant: Tenant) -> None:
    with transaction.atomic():
        job = enqueue(
            tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, run_at=timezone.now() + timedelta(hours=1)
        )

    assert queue_length() == 0
    row = Job.objects.unscoped().get(pk=job.pk)
    assert row.available_at > timezone.now()


def test_the_same_key_returns_the_same_job_and_another_payload_conflicts(tenant: Tenant) -> None:
    first = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="k-1")
    again = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="k-1")

    with pytest.raises(IdempotencyConflict, match="k-1") as conflict:
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, idempotency_key="k-1")

    assert (first.created, again.created) == (True, False)
    assert again.pk == first.pk == conflict.value.job.pk
    assert Job.objects.unscoped().count() == 1
    assert queue_length() == 1


def test_the_same_key_in_two_tenants_makes_two_jobs(tenant: Tenant, other_tenant: Tenant) -> None:
    a = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="shared")
    b = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="shared")

    assert a.pk != b.pk


def test_twenty_concurrent_enqueues_with_one_key_make_one_job(tenant: Tenant) -> None:
    ids, errors = at_once(
        20,
        lambda: enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="race").pk,
    )

    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert Job.objects.unscoped().filter(idempotency_key="race").count() == 1


@pytest.mark.parametrize(
    ("job_type", "payload", "message"),
    [
        ("no.such.type", {}, "Unknown job type 'no.such.type'"),
        ("diagnostics.echo", {"wrong": 1}, "'value' is a required property"),
        ("diagnostics.sleep", {"seconds": -1}, "seconds: -1 is less than the minimum of 0"),
        ("diagnostics.echo", {"value": "x" * 300_000}, "JOBS_MAX_PAYLOAD_BYTES"),
    ],
)
def test_bad_jobs_are_refused_at_enqueue_with_a_clear_message(
    tenant: Tenant, job_type: str, payload: dict, message: str
) -> None:
    with pytest.raises(EnqueueError, match=re.escape(message)):
        enqueue(tenant=tenant, job_type=job_type, payload=payload)

    assert Job.objects.unscoped().count() == 0
    assert queue_length() == 0


def test_diagnostics_can_be_switched_off(tenant: Tenant, settings) -> None:
    settings.JOBS_DIAGNOSTICS = False
    with pytest.raises(EnqueueError, match=r"Unknown job type 'diagnostics\.echo'"):
        enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})


def test_a_lost_wake_up_is_repaired_by_the_next_pass_even_behind_a_backlog(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    with transaction.atomic():
        enqueue_many(tenant=tenant, jobs=[NewJob("diagnostics.echo", {"value": n}) for n in range(100)])
    with transaction.atomic():
        enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": "lost"})
    assert wakeups.flush()
    queue = wakeups.rq_queue("default")
    # Its process died between commit and push: the other tenant's wake-up never reached Redis.
    queue.connection.delete(wakeups.key("default", other_tenant.pk))
    queue.connection.rpop(queue.key)  # the newest message: the other tenant's
    assert queue_length() == 1  # the backlog's wake-up is still waiting

    report = dispatch_pass()

    assert (report.due_pairs, report.woken) == (2, 1)  # only the lost one is woken again
    assert queue_length() == 2 and queue.connection.exists(wakeups.key("default", other_tenant.pk))


def test_a_key_longer_than_its_column_is_refused_with_a_clear_message(tenant: Tenant) -> None:
    with pytest.raises(EnqueueError, match=f"at most {KEY_COLUMN_LENGTH} characters"):
        enqueue(
            tenant=tenant,
            job_type="diagnostics.echo",
            payload={"value": 1},
            idempotency_key="k" * (KEY_COLUMN_LENGTH + 1),
        )

    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="k" * KEY_COLUMN_LENGTH)
    assert Job.objects.unscoped().count() == 1
