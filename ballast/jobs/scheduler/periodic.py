"""Periodic tasks that apps register, run as jobs: once per time slot, whoever leads.

@periodic("uploads.cleanup", every=timedelta(hours=1))
def cleanup() -> None: ...

Each task is a job type, `periodic.<name>`, on the `maintenance` queue (ordinary workers run it), or, with
`requires_owner=True` (VACUUM, partition DDL, retention drops), on `maintenance-owner`, which only the
scheduler's leader serves with the owner's DSN (jobs.scheduler.owner_worker). The leader's maintenance
enqueuer enqueues the current slot of each task (slot = floor(database epoch / every)) under the idempotency
key `periodic:<name>:<slot start>`, so a slot has one job across leader changes, restarts and two schedulers;
the job is retried, timed, rescued after a crash and dead-lettered like any job. A new leader enqueues only the
slot in progress, never the slots it missed. The jobs belong to the platform tenant (LIFECYCLE_MAINTENANCE_TENANT),
created on first use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext

logger = logging.getLogger(__name__)

SYSTEM = "system"
QUEUE = "maintenance"
OWNER_QUEUE = "maintenance-owner"
JOB_PREFIX = "periodic."
SLOT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["task", "slot"],
    "properties": {"task": {"type": "string"}, "slot": {"type": "string", "format": "date-time"}},
    "additionalProperties": False,
}


@dataclass
class PeriodicTask:
    name: str
    every: timedelta
    func: Callable[[], object]
    requires_owner: bool = False

    @property
    def job_type(self) -> str:
        return f"{JOB_PREFIX}{self.name}"

    @property
    def queue(self) -> str:
        return OWNER_QUEUE if self.requires_owner else QUEUE

    def slot_start(self, now: datetime) -> datetime:
        seconds = self.every.total_seconds()
        return datetime.fromtimestamp(int(now.timestamp() // seconds) * seconds, tz=UTC)

    def key(self, slot: datetime) -> str:
        return f"periodic:{self.name}:{slot.isoformat()}"


_tasks: dict[str, PeriodicTask] = {}
_running = threading.local()


def current_slot() -> tuple[str, str] | None:
    """(task name, slot start) of the periodic job running in this thread, if any."""
    slot: tuple[str, str] | None = getattr(_running, "slot", None)
    return slot


def periodic(
    name: str,
    *,
    every: timedelta,
    requires_owner: bool = False,
    timeout: float = 1800,
    job_class: str | None = None,
) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Register `func()` to run once per `every` (slots aligned on the epoch), as the job `periodic.<name>`.
    `requires_owner`: it needs the owner's DSN, so only the scheduler runs it. At most one runs at a time."""
    if every.total_seconds() < 1:
        raise ValueError(f"Periodic task {name!r}: every must be at least a second")

    def register(func: Callable[[], object]) -> Callable[[], object]:
        task = PeriodicTask(name=name, every=every, func=func, requires_owner=requires_owner)
        _tasks[name] = task
        job_handler(
            task.job_type,
            queue=task.queue,
            timeout=timeout,
            schema=SLOT_SCHEMA,
            atomic=False,
            concurrency=1,
            job_class=job_class,
        )(run_slot)
        return func

    return register


def tasks() -> list[PeriodicTask]:
    return list(_tasks.values())


def run_slot(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The job of one slot: runs the task, unless two later slots have begun (their jobs do its work)."""
    task = _tasks.get(payload["task"])
    if task is None:
        from ballast.jobs.worker.context import PermanentError

        raise PermanentError(f"No periodic task {payload['task']!r} in this process")
    slot = datetime.fromisoformat(payload["slot"])
    if timezone.now() >= slot + 2 * task.every:
        logger.info("periodic %s: slot %s is stale, skipped", task.name, payload["slot"])
        return {"skipped": "stale"}
    _running.slot = (task.name, payload["slot"])
    try:
        task.func()
    finally:
        _running.slot = None
    return {"task": task.name, "slot": payload["slot"]}


def database_now() -> datetime:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        now: datetime = cursor.fetchone()[0]
    return now


def platform_tenant_id() -> int:
    """The tenant platform jobs are filed under (LIFECYCLE_MAINTENANCE_TENANT), created if absent."""
    from ballast.tenants.models import Tenant
    from ballast.tenants.services import TenantError, create_tenant

    slug = settings.LIFECYCLE_MAINTENANCE_TENANT
    found = Tenant.objects.using(SYSTEM).filter(slug=slug).values_list("pk", flat=True).first()
    if found is not None:
        return int(found)
    try:
        tenant = create_tenant(slug=slug, name="Platform maintenance", actor="scheduler")
        logger.info("created the platform tenant %r (LIFECYCLE_MAINTENANCE_TENANT) for periodic jobs", slug)
        return int(tenant.pk)
    except (TenantError, IntegrityError):  # another thread or scheduler created it meanwhile
        return int(Tenant.objects.using(SYSTEM).values_list("pk", flat=True).get(slug=slug))


@dataclass
class Enqueuer:
    """The leader's maintenance enqueuer: one job per task and slot. Remembers the slots it has enqueued in
    this term, so a quiet iteration costs one clock read."""

    enqueued: dict[str, datetime]
    owner_work: threading.Event  # set when an owner job was enqueued (the owner worker wakes at once)
    started: bool = False

    def run_once(self) -> list[str]:
        """Enqueue the current slot of every task whose slot this enqueuer has not enqueued yet."""
        from ballast.jobs.services import enqueue

        now = database_now()
        due = [(task, task.slot_start(now)) for task in tasks() if self.enqueued.get(task.name) != task.slot_start(now)]
        if not due:
            return []
        tenant_id = platform_tenant_id()
        created = []
        for task, slot in due:
            with transaction.atomic(using="default"):
                job = enqueue(
                    tenant=tenant_id,
                    job_type=task.job_type,
                    payload={"task": task.name, "slot": slot.isoformat()},
                    idempotency_key=task.key(slot),
                    actor="scheduler",
                )
            self.enqueued[task.name] = slot
            if job.created:
                created.append(f"{task.name}@{slot.isoformat()}")
                if task.requires_owner:
                    self.owner_work.set()
        if created or not self.started:
            logger.info(
                "maintenance enqueuer: %d task(s) at their current slot, enqueued %s",
                len(due),
                ", ".join(created) or "none (their jobs exist)",
            )
        self.started = True
        return created


def vacuum(tables: list[str], *, using: str = "owner") -> None:
    """VACUUM (ANALYZE) tables whose rows churn (queue-like status updates), whatever autovacuum is doing:
    their partial indexes on "pending" rows otherwise fill with dead entries. Cheap on pages that are
    already all-visible. Runs as the owner role, outside any transaction."""
    with connections[using].cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connections[using].ops.quote_name(table)}")
