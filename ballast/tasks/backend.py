"""A Django Tasks backend that runs every task as a Ballast job.

    TASKS = {"default": {"BACKEND": "ballast.tasks.backend.BallastBackend"}}

    from django_tasks import task   # django.tasks on Django 6

    @task(max_attempts=3)
    def add(a: int, b: int) -> int:
        return a + b

    with tenant_scope(tenant.pk):
        result = add.enqueue(2, 3)          # a job, in the caller's transaction

Each task is a job type named after its import path (`examples.tasks.add`), declared when its module is imported:
every app's `tasks.py` is loaded at start-up with the other declarations (ballast.lib.declarations), so web and
worker processes know the same tasks; a task elsewhere is listed in JOBS_HANDLER_MODULES. Its arguments are the
job's payload (`{"args": [...], "kwargs": {...}}`), its return value the job's result; a result id is the job's
id. Everything a job has, a task has: the enqueue commits or rolls back with the caller's transaction, retries
back off, the last failure is dead-lettered, the handler's database writes commit only with its success, the
consoles show it, row-level security applies.

Ballast's options on `@task(...)`: `max_attempts`, `timeout` (seconds), `atomic` (False: the function runs
outside a transaction), `platform` (True: work that belongs to no tenant, filed under the platform tenant),
`cron` and `timezone` (a platform task the scheduler enqueues at every slot), `unique_for` and `unique_states`
(ballast.jobs.services). And
per enqueue, beside the standard `.using(priority=, queue_name=, run_after=)`: `with_idempotency_key(task, key)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ballast.jobs import cron, policy, registry
from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.scheduler.periodic import platform_tenant_id
from ballast.jobs.services import enqueue
from ballast.jobs.states import JobStatus
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.tasks.compat import (
    BaseTaskBackend,
    InvalidTaskError,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
)
from ballast.tenants.context import TenantContextError, current_tenant_id, tenant_scope

P = ParamSpec("P")
T = TypeVar("T")

JOB_TYPE_LENGTH = Job._meta.get_field("job_type").max_length or 100

STATUS = {
    JobStatus.QUEUED: TaskResultStatus.READY,  # waiting to run, for the first time or for a retry
    JobStatus.WAITING: TaskResultStatus.READY,  # waiting for a batch or for the job it runs after
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobStatus.DLQ_PENDING: TaskResultStatus.FAILED,
    JobStatus.DLQ_RECORDED: TaskResultStatus.FAILED,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BallastTask(Task[P, T]):
    """A task with Ballast's options (see the module's docstring)."""

    max_attempts: int | None = None
    timeout: float = 300
    atomic: bool = True
    platform: bool = False
    idempotency_key: str | None = None
    # Run on this cron expression (in `timezone`), as platform work: the scheduler's leader enqueues it with no
    # arguments at every slot (ballast.jobs.cron).
    cron: str | None = None
    timezone: str = "UTC"
    # Enqueues with the same arguments within this window return the job already there (ballast.jobs.services).
    unique_for: timedelta | None = None
    unique_states: tuple[str, ...] | None = None

    @property
    def job_type(self) -> str:
        return self.module_path

    def get_result(self, result_id: str) -> TaskResult[T]:
        with self._tenant():
            return Task.get_result(self, result_id)  # slots: no zero-argument super()

    @contextmanager
    def _tenant(self) -> Iterator[None]:
        """A platform task's results are the platform tenant's; any other task's, the current tenant's."""
        if self.platform and current_tenant_id() is None:
            with tenant_scope(platform_tenant_id()):
                yield
        else:
            yield


def with_idempotency_key(task: Task[P, T], key: str) -> Task[P, T]:
    """The same task, enqueued at most once per tenant under `key`: a second enqueue with the key returns the
    first one's result (its job); one with other arguments raises IdempotencyConflict.

        with_idempotency_key(send_invoice, f"invoice-{order.pk}").enqueue(order.pk)
    """
    if not isinstance(task, BallastTask):
        raise InvalidTaskError(f"{task.module_path} is not a task of Ballast's backend")
    return replace(task, idempotency_key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class BallastTaskContext(TaskContext):
    """The standard context, plus Ballast's checkpoint: `context.checkpoint(state)` saves progress with the
    task's database writes so far, and a later attempt reads it back from `context.last_checkpoint`."""

    job: JobContext

    @property
    def attempt(self) -> int:
        return self.job.attempt

    @property
    def last_checkpoint(self) -> Any:
        return self.job.last_checkpoint

    def checkpoint(self, state: Any) -> None:
        self.job.checkpoint(state)


class BallastBackend(BaseTaskBackend):
    task_class = BallastTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(policy.QUEUE_ORDER)
        unknown = sorted(self.queues - set(policy.QUEUE_ORDER))
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['QUEUES'] names {', '.join(unknown)}: not among Ballast's workers' queues "
                f"({', '.join(policy.QUEUE_ORDER)})"
            )

    def validate_task(self, task: Task[Any, Any]) -> None:
        if task.queue_name not in self.queues:
            raise InvalidTaskError(
                f"Queue {task.queue_name!r} of {task.module_path} is not one of this backend's queues "
                f"({', '.join(sorted(self.queues))})"
            )
        super().validate_task(task)
        if not isinstance(task, BallastTask):
            raise InvalidTaskError(f"{task.module_path} was not declared with @task on Ballast's backend")
        if len(task.job_type) > JOB_TYPE_LENGTH:
            raise InvalidTaskError(f"{task.job_type}: a task's import path is at most {JOB_TYPE_LENGTH} characters")
        if not registry.is_registered(task.job_type):
            registry.job_handler(
                task.job_type,
                queue=task.queue_name,
                max_attempts=task.max_attempts,
                timeout=task.timeout,
                atomic=task.atomic,
                unique_for=task.unique_for,
                unique_states=task.unique_states,
            )(_handler(task.job_type))
            if task.cron is not None:
                if not task.platform:
                    raise InvalidTaskError(f"{task.job_type}: a task with cron= is platform work: add platform=True")
                cron.declare(task.job_type, cron=task.cron, timezone=task.timezone, payload={"args": [], "kwargs": {}})

    def enqueue(self, task: Task[P, T], args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult[T]:
        """Creates the task's job in the caller's transaction (no `transaction.on_commit` is needed: a rolled-back
        transaction takes the job with it, and the wake-up is sent only after commit)."""
        self.validate_task(task)
        assert isinstance(task, BallastTask)
        what = f"an argument of {task.job_type}"
        payload = {"args": _json(list(args), what), "kwargs": _json(dict(kwargs), what)}
        job = enqueue(
            tenant=_tenant_for(task),
            job_type=task.job_type,
            payload=payload,
            idempotency_key=task.idempotency_key,
            # 0, the standard default, leaves the queue's own default priority.
            priority=task.priority or None,
            run_at=task.run_after,
            queue=task.queue_name,
        )
        if not job.created:  # the idempotency key's job, perhaps already run
            with tenant_scope(job.tenant_id):
                return _result(job)
        return _result(job, attempts=[])

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """The task result with this id, read from the database (any process may ask), in the current tenant."""
        tenant_id = current_tenant_id()
        if tenant_id is None:
            raise TenantContextError(
                "A task result belongs to a tenant: read it inside ballast.tenants.context.tenant_scope(tenant_id), "
                "or through a platform task (`@task(platform=True)`), whose get_result() needs no scope."
            )
        try:
            job_id = int(result_id)
        except (TypeError, ValueError):
            raise TaskResultDoesNotExist(f"No task result {result_id!r}: a result id is a number") from None
        with tenant_scope(tenant_id):
            job = Job.objects.filter(pk=job_id).first()
            if job is None:
                raise TaskResultDoesNotExist(f"No task result {result_id!r} in tenant {tenant_id}")
            return _result(job)


def _json(value: Any, what: str) -> Any:
    """`value` if it is JSON as it stands (str, int, float, bool, None, lists, dicts with string keys)."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON ({exc}); pass str, int, float, bool, None, lists and dicts") from None
    if json.loads(encoded) != value:
        raise TypeError(f"{what} does not survive JSON unchanged (a tuple, or a dict key that is not a string)")
    return value


def _tenant_for(task: BallastTask[Any, Any]) -> int:
    current = current_tenant_id()
    if task.platform:
        platform = platform_tenant_id()
        if current is not None and current != platform:
            raise TenantContextError(
                f"{task.job_type} is a platform task: enqueue it outside tenant_scope({current}), "
                "for example in transaction.on_commit()"
            )
        return platform
    if current is None:
        raise TenantContextError(
            f"{task.job_type}.enqueue() needs a tenant: call it inside ballast.tenants.context.tenant_scope(tenant_id) "
            "(the tenant API's views already run inside one), or declare the task @task(platform=True) if its work "
            "belongs to no tenant."
        )
    return current


def _task_at(job_type: str) -> BallastTask[Any, Any]:
    try:
        found = import_string(job_type)
    except ImportError:
        raise TaskResultDoesNotExist(f"{job_type} is not an importable task") from None
    if not isinstance(found, BallastTask):
        raise TaskResultDoesNotExist(f"{job_type} is a job type, not a task")
    return found


def _handler(job_type: str) -> Callable[[JobContext, dict[str, Any]], Any]:
    def run_task(ctx: JobContext, payload: dict[str, Any]) -> Any:
        task = _task_at(job_type)
        args, kwargs = payload.get("args", []), payload.get("kwargs", {})
        if task.takes_context:
            context = BallastTaskContext(task_result=_result(Job.objects.get(pk=ctx.job_id)), job=ctx)
            value = task.call(context, *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        try:
            return _json(value, f"{job_type}'s return value")
        except TypeError as exc:
            raise PermanentError(str(exc)) from None

    run_task.__qualname__ = run_task.__name__ = f"run_task[{job_type}]"
    return run_task


def _result(job: Job, attempts: list[JobAttempt] | None = None) -> TaskResult[Any]:
    """The TaskResult of a task's job (inside the job's tenant_scope)."""
    task = _task_at(job.job_type)
    if attempts is None:
        attempts = list(JobAttempt.objects.filter(job_id=job.pk).order_by("attempt", "id"))
    run_after: datetime | None = job.available_at if job.available_at and job.available_at > job.created_at else None
    task = task.using(priority=job.priority, queue_name=job.queue, run_after=run_after)
    worker_ids = [attempt.worker for attempt in attempts]
    if job.status == JobStatus.RUNNING:
        worker_ids.append(job.locked_by)
    errors = [
        TaskError(exception_class_path=attempt.error_class or "builtins.Exception", traceback=attempt.traceback)
        for attempt in attempts
        if attempt.outcome == JobAttempt.Outcome.FAILED
    ]
    status = STATUS[JobStatus(job.status)]
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.created_at,
        started_at=attempts[0].started_at if attempts else job.started_at,
        last_attempted_at=job.started_at,
        finished_at=job.finished_at if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED) else None,
        args=list(job.payload.get("args", [])),
        kwargs=dict(job.payload.get("kwargs", {})),
        backend=task.backend,
        errors=errors,
        worker_ids=worker_ids,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result
