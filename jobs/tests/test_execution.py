"""The worker side in-process: claim, run, acknowledge, retry, dead-letter, fencing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from jobs import admission, policy
from jobs.claims import claim_ids
from jobs.execution import BatchReport, run_claimed, run_jobs, run_message
from jobs.leases import LeaseLost, save_checkpoint
from jobs.models import DeadLetter, Job, JobAttempt
from jobs.recovery import reap_expired_leases
from jobs.services import cancel_job, enqueue
from jobs.tests import handlers  # noqa: F401  (registers the test job types)
from jobs.tests.conftest import job_row
from tenants.context import tenant_scope
from tenants.models import AuditEntry, Tenant


def _enqueue(tenant: Tenant, job_type: str, payload: dict | None = None, **options: object) -> Job:
    with transaction.atomic():
        return enqueue(tenant=tenant, job_type=job_type, payload=payload or {}, **options)  # type: ignore[arg-type]


def _message(job: Job) -> dict:
    return {
        "tenant_id": job.tenant_id,
        "jobs": [{"job_id": job.pk, "job_type": job.job_type, "attempt": 1, "trace_id": ""}],
    }


def test_a_job_runs_once_and_its_result_and_attempt_are_recorded(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": [1, 2]})

    first = run_message(_message(job))
    duplicate = run_message(_message(job))

    row = job_row(job.pk)
    assert first["succeeded"] == 1 and duplicate["claimed"] == 0  # a duplicate message claims nothing
    assert (row.status, row.result, row.attempts, row.lease_token) == ("succeeded", {"value": [1, 2]}, 1, None)
    attempts = list(JobAttempt.objects.unscoped().filter(job_id=job.pk).values_list("attempt", "outcome"))
    assert attempts == [(1, "succeeded")]


def test_a_message_cannot_claim_another_tenants_job(tenant: Tenant, other_tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})
    forged = {**_message(job), "tenant_id": other_tenant.pk}

    assert run_message(forged)["claimed"] == 0
    assert job_row(job.pk).status == "queued"


def test_a_failure_with_attempts_left_is_retried_after_a_bounded_backoff(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.fail", {"message": "flaky", "fail_times": 1})
    before = timezone.now()

    run_message(_message(job))

    row = job_row(job.pk)
    assert (row.status, row.attempts, row.dispatched_at) == ("queued", 1, None)
    assert row.last_error == "RuntimeError: flaky"
    # diagnostics.fail: base 0.5 s, so after attempt 1 the delay is within [0, 1] s.
    assert before <= row.available_at <= timezone.now() + timedelta(seconds=1)
    attempt = JobAttempt.objects.unscoped().get(job_id=job.pk)
    assert attempt.outcome == "failed" and "RuntimeError: flaky" in attempt.traceback


def test_a_job_out_of_attempts_is_dead_lettered_in_order(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.fail", {"message": "always"}, max_attempts=2)
    for _ in range(2):
        Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now())
        run_message(_message(job))

    row = job_row(job.pk)
    assert (row.status, row.attempts) == ("failed", 2)
    letter = DeadLetter.objects.unscoped().get(job_id=job.pk)
    assert (letter.reason, letter.attempts, letter.status) == ("exhausted", 2, "recorded")
    trail = list(
        AuditEntry.objects.unscoped()
        .filter(target_id=str(job.pk), action__startswith="job.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert trail == ["job.enqueued", "job.dlq_pending", "job.dlq_recorded", "job.failed"]


def test_a_permanent_error_skips_the_retries(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.permanent")

    run_message(_message(job))

    row = job_row(job.pk)
    assert (row.status, row.attempts, row.max_attempts) == ("failed", 1, 5)
    assert DeadLetter.objects.unscoped().get(job_id=job.pk).reason == "permanent"


def test_a_handler_over_its_timeout_is_interrupted_and_retried(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.slow")

    report = run_message(_message(job))

    row = job_row(job.pk)
    assert report["retried"] == 1
    assert row.status == "queued" and "JobTimeout" in row.last_error


def test_an_oversized_result_fails_permanently(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.huge_result")

    run_message(_message(job))

    assert "JOBS_MAX_RESULT_BYTES" in job_row(job.pk).last_error
    assert job_row(job.pk).status == "failed"


def test_a_late_completion_from_a_reaped_attempt_is_rejected_with_its_writes(tenant: Tenant, settings) -> None:
    def reap_and_rerun() -> None:
        # Elsewhere, the scheduler decides the worker is dead, takes the job back, and a newer attempt finishes.
        Job.objects.unscoped().filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        outcome["reaped"] = reap_expired_leases().retried
        Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now())
        outcome["rerun"] = run_message(_message(job))["succeeded"]

    def lose_lease(ctx: object) -> None:
        elsewhere = threading.Thread(target=reap_and_rerun)  # other connections, as in another process
        elsewhere.start()
        elsewhere.join(30)

    outcome: dict[str, int] = {}

    job = _enqueue(tenant, "tests.write_and_succeed")
    with tenant_scope(tenant.pk):
        claimed = claim_ids([job.pk], worker="old-worker")
    job_payload_hook = {"steal_lease": lose_lease}
    claimed = [type(claimed[0])(**{**claimed[0].__dict__, "payload": job_payload_hook})]
    report = BatchReport()

    run_claimed(claimed, worker="old-worker", report=report)

    row = job_row(job.pk)
    assert outcome == {"reaped": 1, "rerun": 1}
    assert report.lease_lost == 1
    assert (row.status, row.attempts, row.locked_by) == ("succeeded", 2, row.locked_by)
    side_effects = AuditEntry.objects.unscoped().filter(action="tests.side_effect", target_id=str(job.pk))
    assert side_effects.count() == 1  # the stale attempt's write was rolled back with its acknowledgement
    outcomes = dict(JobAttempt.objects.unscoped().filter(job_id=job.pk).values_list("attempt", "outcome"))
    assert outcomes[1] in ("lost", "lease_lost") and outcomes[2] == "succeeded"


def test_a_checkpoint_from_a_stale_lease_is_refused(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    with tenant_scope(tenant.pk):
        (claimed,) = claim_ids([job.pk], worker="w")
    assert save_checkpoint(tenant.pk, job.pk, 1, claimed.lease_token, {"step": 1}) == 1
    Job.objects.unscoped().filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    reap_expired_leases()

    with pytest.raises(LeaseLost):
        save_checkpoint(tenant.pk, job.pk, 1, claimed.lease_token, {"step": 2})


def test_a_queued_job_is_cancelled_and_never_runs(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})

    cancel_job(job=job_row(job.pk))
    report = run_message(_message(job))

    assert report["claimed"] == 0
    assert job_row(job.pk).status == "cancelled"


def test_a_running_job_stops_cooperatively_when_cancelled(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0.2, "steps": 4})
    with tenant_scope(tenant.pk):
        claimed = claim_ids([job.pk], worker="w")
    cancel_job(job=job_row(job.pk))  # the job is running: only cancel_requested is set
    assert job_row(job.pk).status == "running" and job_row(job.pk).cancel_requested
    report = BatchReport()

    run_claimed(claimed, worker="w", report=report)

    assert report.cancelled == 1
    assert job_row(job.pk).status == "cancelled"


def test_a_concurrency_cap_holds_jobs_back_for_the_scheduler(tenant: Tenant, settings) -> None:
    settings.JOBS_CONCURRENCY = {"diagnostics.sleep": 1}
    running = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    waiting = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    with tenant_scope(tenant.pk):
        claim_ids([running.pk], worker="w")

    report = run_jobs(tenant.pk, [waiting.pk], types={waiting.pk: "diagnostics.sleep"})

    row = job_row(waiting.pk)
    assert (report.claimed, report.deferred) == (0, 1)
    assert row.status == "queued" and row.dispatched_at is None and row.available_at > timezone.now()


def test_the_shared_rate_limiter_counts_globally_and_per_tenant(redis: object, settings) -> None:
    settings.EMAIL_RATE_PER_MINUTE = 3
    settings.EMAIL_RATE_PER_TENANT_PER_MINUTE = 2
    tenant_1 = policy.rate_limits("email", 1)
    tenant_2 = policy.rate_limits("email", 2)

    results = [admission.take_rate_tokens(tenant_1) for _ in range(3)] + [
        admission.take_rate_tokens(tenant_2) for _ in range(2)
    ]

    assert results[:2] == [0.0, 0.0]
    assert results[2] > 0  # tenant 1 is over its own limit
    assert results[3] == 0.0  # tenant 2 still has room, and takes the last global slot
    assert results[4] > 0  # now the global limit is full
    assert policy.rate_limits("default", 1) == []


def test_connections_are_returned_after_a_message(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})
    run_message(_message(job))
    assert all(connection.connection is None for connection in connections.all())
