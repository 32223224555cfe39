"""The worker side in-process: claim, run, acknowledge, retry, dead-letter, fencing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone
from redis import exceptions as redis_exceptions

from ballast.jobs import policy, wakeups
from ballast.jobs.models import DeadLetter, Job, JobAttempt
from ballast.jobs.scheduler.rescue import rescue_expired_leases
from ballast.jobs.services import cancel_job, enqueue
from ballast.jobs.tests import handlers  # noqa: F401  (registers the test job types)
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.wakeups import Baton, redis_connection
from ballast.jobs.worker import admission
from ballast.jobs.worker.claim import claim_job
from ballast.jobs.worker.context import JobContext, LeaseLost
from ballast.jobs.worker.run import run_job, run_pair, run_wakeup
from ballast.tenants.models import AuditEntry, Tenant


def _enqueue(tenant: Tenant, job_type: str, payload: dict | None = None, **options: object) -> Job:
    with transaction.atomic():
        return enqueue(tenant=tenant, job_type=job_type, payload=payload or {}, **options)  # type: ignore[arg-type]


def _wake(job: Job, tenant_id: int | None = None) -> dict:
    """What a worker does with a wake-up for the job's queue and tenant."""
    return run_pair(job.queue, tenant_id or job.tenant_id).as_dict()


def _context(job: Job, token) -> JobContext:
    return JobContext(
        tenant_id=job.tenant_id,
        job_id=job.pk,
        attempt=1,
        trace_id="",
        correlation_id="",
        lease_token=token,
    )


def test_a_job_runs_once_and_its_result_and_attempt_are_recorded(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": [1, 2]})

    first = _wake(job)
    duplicate = _wake(job)

    row = job_row(job.pk)
    assert first["succeeded"] == 1 and duplicate["claimed"] == 0  # a duplicate message claims nothing
    assert (row.status, row.result, row.attempts, row.lease_token) == ("succeeded", {"value": [1, 2]}, 1, None)
    attempts = list(JobAttempt.objects.unscoped().filter(job_id=job.pk).values_list("attempt", "outcome"))
    assert attempts == [(1, "succeeded")]


def test_a_wake_up_for_one_tenant_claims_none_of_another_tenants_jobs(tenant: Tenant, other_tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})

    assert _wake(job, tenant_id=other_tenant.pk)["claimed"] == 0
    assert job_row(job.pk).status == "queued"


def test_a_failure_with_attempts_left_is_retried_after_a_bounded_backoff(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.fail", {"message": "flaky", "fail_times": 1})
    before = timezone.now()

    _wake(job)

    row = job_row(job.pk)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "RuntimeError: flaky"
    # diagnostics.fail: base 0.5 s, so after attempt 1 the delay is within [0, 1] s.
    assert before <= row.available_at <= timezone.now() + timedelta(seconds=1)
    attempt = JobAttempt.objects.unscoped().get(job_id=job.pk)
    assert attempt.outcome == "failed" and "RuntimeError: flaky" in attempt.traceback


def test_a_job_out_of_attempts_is_dead_lettered_in_order(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.fail", {"message": "always"}, max_attempts=2)
    for _ in range(2):
        Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now() - timedelta(seconds=1))
        _wake(job)

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

    _wake(job)

    row = job_row(job.pk)
    assert (row.status, row.attempts, row.max_attempts) == ("failed", 1, 5)
    assert DeadLetter.objects.unscoped().get(job_id=job.pk).reason == "permanent"


def test_a_handler_over_its_timeout_is_interrupted_and_retried(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.slow")

    report = _wake(job)

    row = job_row(job.pk)
    assert report["retried"] == 1
    assert row.status == "queued" and "JobTimeout" in row.last_error


def test_a_timeout_inside_a_query_loses_nothing_but_that_attempt(tenant: Tenant) -> None:
    stuck = _enqueue(tenant, "tests.slow_query")
    after = _enqueue(tenant, "diagnostics.echo", {"value": "next"})

    report = _wake(stuck)

    assert report["retried"] == 1 and report["succeeded"] == 1
    assert "JobTimeout" in job_row(stuck.pk).last_error
    assert job_row(after.pk).status == "succeeded"


def test_an_error_text_with_nul_is_recorded(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.nul_error")

    _wake(job)

    row = job_row(job.pk)
    assert row.status == "failed" and "bad\\x00byte" in row.last_error


def test_an_oversized_result_fails_permanently(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.huge_result")

    _wake(job)

    assert "JOBS_MAX_RESULT_BYTES" in job_row(job.pk).last_error
    assert job_row(job.pk).status == "failed"


def test_a_late_completion_from_a_reaped_attempt_is_rejected_with_its_writes(tenant: Tenant, settings) -> None:
    def reap_and_rerun() -> None:
        # Elsewhere, the scheduler decides the worker is dead, takes the job back, and a newer attempt finishes.
        Job.objects.unscoped().filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        outcome["reaped"] = rescue_expired_leases().retried
        Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now() - timedelta(seconds=1))
        outcome["rerun"] = _wake(job)["succeeded"]
        connections.close_all()  # this thread's own sessions

    def lose_lease(ctx: object) -> None:
        elsewhere = threading.Thread(target=reap_and_rerun)  # other connections, as in another process
        elsewhere.start()
        elsewhere.join(30)

    outcome: dict[str, int] = {}
    job = _enqueue(tenant, "tests.write_and_succeed")
    claimed = claim_job(job.pk, worker="old-worker")
    assert claimed is not None
    claimed = type(claimed)(**{**claimed.__dict__, "payload": {"steal_lease": lose_lease}})

    result = run_job(claimed, worker="old-worker")

    row = job_row(job.pk)
    assert outcome == {"reaped": 1, "rerun": 1}
    assert result == "lease_lost"
    assert (row.status, row.attempts) == ("succeeded", 2)
    side_effects = AuditEntry.objects.unscoped().filter(action="tests.side_effect", target_id=str(job.pk))
    assert side_effects.count() == 1  # the stale attempt's write was rolled back with its acknowledgement
    outcomes = sorted(JobAttempt.objects.unscoped().filter(job_id=job.pk).values_list("attempt", "outcome"))
    assert outcomes == [(1, "lease_lost"), (1, "lost"), (2, "succeeded")]


def test_a_checkpoint_from_a_stale_lease_is_refused(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    claimed = claim_job(job.pk, worker="w")
    assert claimed is not None
    context = _context(job, claimed.lease_token)
    context.atomic = False
    context.checkpoint({"step": 1})
    Job.objects.unscoped().filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    rescue_expired_leases()

    with pytest.raises(LeaseLost):
        context.checkpoint({"step": 2})


def test_a_checkpoint_commits_the_work_it_vouches_for(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.write_checkpoint_then_fail")

    _wake(job)

    # The attempt failed after its checkpoint: the write before the checkpoint stays, the one after is gone.
    writes = AuditEntry.objects.unscoped().filter(action="tests.side_effect", target_id=str(job.pk))
    assert list(writes.values_list("data", flat=True)) == [{"step": 1}]
    assert job_row(job.pk).status == "queued"
    Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now() - timedelta(seconds=1))

    _wake(job)  # the retry resumes after the checkpoint, whose work is in the database

    assert job_row(job.pk).status == "succeeded" and job_row(job.pk).result == {"resumed_from": 1}
    assert sorted(writes.values_list("data__step", flat=True)) == [1, 2]


def test_a_non_atomic_handler_holds_no_transaction_while_it_runs(tenant: Tenant) -> None:
    job = _enqueue(tenant, "tests.non_atomic")

    report = _wake(job)

    assert report["succeeded"] == 1
    assert job_row(job.pk).result == {"in_transaction": False, "wrote": True}
    assert AuditEntry.objects.unscoped().filter(action="tests.side_effect", target_id=str(job.pk)).count() == 1


def test_a_queued_job_is_cancelled_and_never_runs(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})

    cancel_job(job=job_row(job.pk))
    report = _wake(job)

    assert report["claimed"] == 0
    assert job_row(job.pk).status == "cancelled"


def test_a_running_job_stops_cooperatively_when_cancelled(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0.2, "steps": 4})
    claimed = claim_job(job.pk, worker="w")
    assert claimed is not None
    cancel_job(job=job_row(job.pk))  # the job is running: only cancel_requested is set
    assert job_row(job.pk).status == "running" and job_row(job.pk).cancel_requested

    assert run_job(claimed, worker="w") == "cancelled"
    assert job_row(job.pk).status == "cancelled"


def test_a_cancel_requested_while_running_is_honoured_when_the_attempt_fails(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.fail", {"message": "boom"})
    claimed = claim_job(job.pk, worker="w")
    assert claimed is not None
    cancel_job(job=job_row(job.pk))

    assert run_job(claimed, worker="w") == "cancelled"
    row = job_row(job.pk)
    assert (row.status, row.cancel_requested) == ("cancelled", True)


def test_a_cancel_requested_while_running_is_honoured_when_the_lease_expires(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})
    assert claim_job(job.pk, worker="dead") is not None
    cancel_job(job=job_row(job.pk))
    Job.objects.unscoped().filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    report = rescue_expired_leases()

    assert report.cancelled == 1 and job_row(job.pk).status == "cancelled"


def test_a_job_enqueued_by_a_fast_app_clock_is_due_at_once(tenant: Tenant, monkeypatch) -> None:
    skewed = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: skewed)
    job = _enqueue(tenant, "diagnostics.echo", {"value": "skew"})
    monkeypatch.undo()

    assert _wake(job)["succeeded"] == 1


def test_a_concurrency_cap_holds_jobs_back_without_charging_them(tenant: Tenant, settings) -> None:
    settings.JOBS_CONCURRENCY = {"diagnostics.sleep": 1}
    running = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    waiting = _enqueue(tenant, "diagnostics.sleep", {"seconds": 0})
    assert claim_job(running.pk, worker="w") is not None

    report = _wake(waiting)

    row = job_row(waiting.pk)
    assert report["claimed"] == 0
    assert (row.status, row.attempts) == ("queued", 0) and row.available_at > timezone.now()


def test_a_job_claimed_but_never_started_goes_back_uncharged_when_the_hand_on_fails(tenant: Tenant) -> None:
    first = _enqueue(tenant, "diagnostics.echo", {"value": 1})
    _enqueue(tenant, "diagnostics.echo", {"value": 2})  # a second due job: the claim hands the wake-up on

    class RedisGone(Baton):
        def pass_on(self) -> None:
            raise redis_exceptions.ConnectionError("Redis went away between the claim and the handler")

    with pytest.raises(redis_exceptions.ConnectionError):
        run_pair(first.queue, tenant.pk, baton=RedisGone(first.queue, tenant.pk, "b"))

    row = job_row(first.pk)
    assert (row.status, row.attempts, row.lease_token) == ("queued", 0, None)
    assert not JobAttempt.objects.unscoped().filter(job_id=first.pk).exists()
    assert _wake(first)["succeeded"] == 2  # nothing was lost


def test_a_wake_up_that_claims_nothing_spends_no_rate_token(tenant: Tenant, settings) -> None:
    settings.EMAIL_RATE_PER_MINUTE = 5
    settings.EMAIL_RATE_PER_TENANT_PER_MINUTE = 5
    limits = policy.rate_limits("email", tenant.pk)

    settings.JOBS_LINGER_SECONDS = 0.01
    for index in range(10):  # as the holder of a wake-up, which lingers and looks twice before letting go
        wakeups.wake([("email", tenant.pk)])
        redis_connection().delete(wakeups.rq_queue("email").key)  # this worker took the message
        redis_connection().rpush(wakeups.nudge_key("email", tenant.pk), "1")  # and a commit nudged it once
        held = redis_connection().get(wakeups.key("email", tenant.pk))
        assert isinstance(held, bytes)
        baton = Baton("email", tenant.pk, held.decode())
        assert run_pair("email", tenant.pk, baton=baton).claimed == 0, index

    assert all(admission.take_rate_tokens(limits) == 0.0 for _ in range(5))  # the whole budget is still there


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


def test_connections_are_returned_after_a_wake_up(tenant: Tenant) -> None:
    job = _enqueue(tenant, "diagnostics.echo", {"value": 1})
    run_wakeup({"queue": job.queue, "tenant_id": tenant.pk, "baton": "b"})
    assert all(connection.connection is None for connection in connections.all())


def _prepared(alias: str, opening: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{opening}%"])
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("prepared", [True, False])
def test_the_enqueue_and_the_acknowledgement_are_prepared_on_the_server_unless_turned_off(
    tenant: Tenant, settings, prepared: bool
) -> None:
    """Planned once per connection: Django's own cursors would plan it anew at every run, over every partition
    of jobs_job."""
    settings.JOBS_PREPARED_STATEMENTS = prepared
    with connections["default"].cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg sees it and forgets what it had prepared on this connection
    jobs = [_enqueue(tenant, "diagnostics.echo", {"value": n}) for n in range(2)]

    outcome = _wake(jobs[0])

    assert outcome["succeeded"] == 2  # the second was claimed with the first one's acknowledgement
    assert all(job_row(job.pk).status == "succeeded" for job in jobs)
    assert (_prepared("default", "WITH done AS") >= 1) is prepared  # the acknowledgement
    assert (_prepared("default", "WITH input AS") >= 1) is prepared  # the enqueue


def test_an_error_in_a_prepared_hot_statement_is_raised_as_djangos(tenant: Tenant) -> None:
    """Callers catch django.db errors (a statement timeout, a lost connection): the prepared path must raise
    them too, not psycopg's own."""
    from django.db import DataError

    from ballast.jobs import transitions

    with pytest.raises(DataError):
        transitions.claim("SELECT 1 / (%(zero)s::int)", {"zero": 0})
