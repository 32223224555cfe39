"""The standard Django Tasks API on Ballast: @task functions run as jobs on real workers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist

from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.scheduler.periodic import platform_tenant_id
from ballast.jobs.testing import run_due_jobs
from ballast.jobs.tests.processes import Processes
from ballast.tasks.backend import BallastTaskContext, with_idempotency_key
from ballast.tenants.context import TenantContextError, tenant_scope
from ballast.tenants.models import Tenant
from examples.tasks import add, fail

STEPS_DONE: list[int] = []


# The standard decorator's annotations expect a TaskContext first; Ballast's subclass adds checkpoints.
@task(takes_context=True)  # type: ignore[arg-type]
def count_with_checkpoints(context: BallastTaskContext, steps: int, fail_at: int) -> dict[str, Any]:
    """Counts to `steps`, checkpointing each; the first attempt fails at `fail_at`."""
    start = (context.last_checkpoint or {}).get("done", 0)
    for step in range(start + 1, steps + 1):
        if context.attempt == 1 and step == fail_at:
            raise RuntimeError(f"failed at step {step}")
        STEPS_DONE.append(step)
        context.checkpoint({"done": step})
    return {"attempt": context.attempt, "resumed_from": start, "result_id": context.task_result.id}


@task(platform=True)
def platform_echo(value: str) -> str:
    return value


def test_a_task_runs_on_a_real_worker_and_another_process_reads_its_result(
    tenant: Tenant, processes: Processes
) -> None:
    with tenant_scope(tenant.pk):
        enqueued = add.enqueue(2, 3)
    assert enqueued.status == TaskResultStatus.READY and enqueued.args == [2, 3]

    worker = processes.worker("default", burst=True)
    worker.wait(timeout=60)

    code = (
        "import json; from ballast.tenants.context import tenant_scope; from examples.tasks import add\n"
        f"with tenant_scope({tenant.pk}):\n"
        f"    r = add.get_result({enqueued.id!r})\n"
        "print('RESULT', json.dumps({'status': r.status, 'value': r.return_value, 'attempts': r.attempts}))"
    )
    reader = processes.start("shell", "-c", code, name="reader")
    reader.wait(timeout=60)
    line = next(line for line in processes.log("reader").splitlines() if line.startswith("RESULT "))
    assert json.loads(line.removeprefix("RESULT ")) == {"status": "SUCCESSFUL", "value": 5, "attempts": 1}

    with tenant_scope(tenant.pk):
        enqueued.refresh()
    assert enqueued.status == TaskResultStatus.SUCCESSFUL and enqueued.return_value == 5
    assert enqueued.errors == [] and len(enqueued.worker_ids) == 1 and enqueued.worker_ids[0]
    assert enqueued.enqueued_at and enqueued.started_at and enqueued.finished_at
    assert enqueued.enqueued_at <= enqueued.started_at <= enqueued.finished_at
    job = Job.objects.unscoped().get(pk=int(enqueued.id))
    assert (job.job_type, job.queue, job.tenant_id, job.payload) == (
        "examples.tasks.add",
        "default",
        tenant.pk,
        {"args": [2, 3], "kwargs": {}},
    )


def test_a_failing_task_is_dead_lettered_with_its_exception_class_and_traceback(
    tenant: Tenant, processes: Processes
) -> None:
    with tenant_scope(tenant.pk):
        result = fail.enqueue()

    worker = processes.worker("default", burst=True)
    worker.wait(timeout=60)

    with tenant_scope(tenant.pk):
        result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.attempts == 1
    [error] = result.errors
    assert error.exception_class is ValueError
    assert "raise ValueError" in error.traceback and "examples.tasks.fail always fails" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    assert DeadLetter.objects.unscoped().filter(job_id=int(result.id)).count() == 1


def test_an_enqueue_rolled_back_with_its_transaction_never_runs(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), tenant_scope(tenant.pk), transaction.atomic():
        rolled_back = add.enqueue(1, 1)
        raise RuntimeError("the request failed after the enqueue")

    assert not Job.objects.unscoped().exists()
    assert run_due_jobs().processed == 0
    with tenant_scope(tenant.pk), pytest.raises(TaskResultDoesNotExist):
        add.get_result(rolled_back.id)


def test_a_checkpointing_task_resumes_after_its_last_checkpoint_on_the_next_attempt(tenant: Tenant) -> None:
    STEPS_DONE.clear()
    with tenant_scope(tenant.pk):
        result = count_with_checkpoints.enqueue(steps=5, fail_at=3)

    assert run_due_jobs().retried == 1
    Job.objects.unscoped().filter(pk=int(result.id)).update(available_at=timezone.now())  # skip the backoff
    assert run_due_jobs().succeeded == 1

    with tenant_scope(tenant.pk):
        result.refresh()
    assert result.return_value == {"attempt": 2, "resumed_from": 2, "result_id": result.id}
    assert STEPS_DONE == [1, 2, 3, 4, 5]  # steps 1 and 2 ran once: their checkpoint committed with them
    assert result.errors[0].exception_class is RuntimeError and result.attempts == 2


def test_the_standard_options_reach_the_job(tenant: Tenant) -> None:
    later = timezone.now() + timedelta(hours=1)
    with tenant_scope(tenant.pk):
        result = add.using(priority=7, queue_name="email", run_after=later).enqueue(a=1, b=2)
        keyed = with_idempotency_key(add, "order-42").enqueue(4, 4)
        again = with_idempotency_key(add, "order-42").enqueue(4, 4)

    job = Job.objects.unscoped().get(pk=int(result.id))
    assert (job.priority, job.queue, job.available_at, job.payload["kwargs"]) == (7, "email", later, {"a": 1, "b": 2})
    assert result.task.queue_name == "email" and result.task.priority == 7
    assert keyed.id == again.id and Job.objects.unscoped().filter(idempotency_key="order-42").count() == 1


def test_bad_calls_are_refused_with_what_to_do(tenant: Tenant) -> None:
    with pytest.raises(TenantContextError, match=r"tenant_scope\(tenant_id\).*platform=True"):
        add.enqueue(1, 2)
    with pytest.raises(TenantContextError, match=r"inside ballast\.tenants\.context\.tenant_scope"):
        add.get_result("1")
    with tenant_scope(tenant.pk):
        with pytest.raises(TypeError, match=r"an argument of examples\.tasks\.add is not JSON"):
            add.enqueue(object(), 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="does not survive JSON"):
            add.enqueue((1, 2), 3)  # type: ignore[arg-type]
        with pytest.raises(TaskResultDoesNotExist, match="a result id is a number"):
            add.get_result("abc")
    with pytest.raises(InvalidTaskError, match=r"Queue 'nope' of examples.tasks.add is not one of"):
        add.using(queue_name="nope")
    with pytest.raises(InvalidTaskError, match="maintenance-owner"):
        add.using(queue_name="maintenance-owner")
    assert not Job.objects.unscoped().exists()


def test_the_async_calls_enqueue_and_read_in_the_tenant_scope(tenant: Tenant) -> None:
    with tenant_scope(tenant.pk):
        result = async_to_sync(add.aenqueue)(20, 22)
    assert run_due_jobs().succeeded == 1
    with tenant_scope(tenant.pk):
        read = async_to_sync(add.aget_result)(result.id)
    assert read.return_value == 42


def test_a_platform_task_needs_no_tenant_scope_and_refuses_one_of_another_tenant(tenant: Tenant) -> None:
    result = platform_echo.enqueue("hello")
    assert Job.objects.unscoped().get(pk=int(result.id)).tenant_id == platform_tenant_id()
    assert run_due_jobs().succeeded == 1
    assert platform_echo.get_result(result.id).return_value == "hello"

    with tenant_scope(tenant.pk), pytest.raises(TenantContextError, match="platform task"):
        platform_echo.enqueue("from a tenant")


@task(platform=True, cron="0 3 * * *", timezone="Europe/Berlin")
def nightly_report() -> str:
    return "done"


@task(unique_for=timedelta(minutes=10))
def refresh(account: int) -> int:
    return account


def test_a_task_declared_with_cron_is_a_read_only_platform_schedule(committed: None) -> None:
    from datetime import UTC, datetime

    from ballast.jobs import schedules
    from ballast.jobs.models import Schedule

    schedules.sync_declared(now=datetime(2024, 12, 1, 12, tzinfo=UTC), tenant_id=platform_tenant_id())
    row = Schedule.objects.unscoped().get(job_type=nightly_report.job_type)  # type: ignore[attr-defined]
    assert (row.declared_in_code, row.cron, row.timezone) == (True, "0 3 * * *", "Europe/Berlin")
    assert row.next_run_at == datetime(2024, 12, 2, 2, tzinfo=UTC)  # 03:00 CET
    assert row.payload == {"args": [], "kwargs": {}}


def test_a_unique_task_enqueued_twice_with_the_same_arguments_is_one_job(tenant: Tenant) -> None:
    with tenant_scope(tenant.pk):
        first, second, other = refresh.enqueue(1), refresh.enqueue(1), refresh.enqueue(2)
    assert first.id == second.id != other.id


def test_every_job_state_has_a_task_result_status() -> None:
    from ballast.jobs.states import JobStatus
    from ballast.tasks.backend import STATUS

    assert set(STATUS) == set(JobStatus)  # a waiting job (a batch's callback, a chained job) reads as READY
    assert STATUS[JobStatus.WAITING] == TaskResultStatus.READY
