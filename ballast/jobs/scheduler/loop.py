"""The scheduler process: a leadership ticker and supervised services (jobs.scheduler.services).

Services of the leader, each in its own thread with its own interval and deadline:
- rescue: takes back jobs whose lease expired (every JOBS_SCHEDULER_INTERVAL_MS, JOBS_PASS_DEADLINE_SECONDS),
  from one lease after a term begins;
- dispatch: wakes (queue, tenant) pairs with due work and no wake-up (same interval and deadline);
- maintenance-enqueuer: enqueues one job per periodic task and slot (JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS);
- cron-enqueuer: enqueues the job of each cron schedule's slot (ballast.jobs.schedules), at the same interval,
  after bringing the schedules declared in code into step at the start of each term;
- owner-maintenance: runs the periodic jobs that need the owner's DSN (JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS).
Services apps register with `scheduler_service` (the outbox relay) run in every scheduler process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from ballast.jobs import schedules, sql
from ballast.jobs.cron import declared as cron_declared
from ballast.jobs.scheduler import dispatch, owner_worker, periodic
from ballast.jobs.scheduler.leader import Leadership
from ballast.jobs.scheduler.rescue import rescue_expired_leases
from ballast.jobs.scheduler.services import ServiceSpec, registered_services, run_services, scheduler_service

__all__ = ["run_pass", "run_scheduler", "scheduler_service"]

logger = logging.getLogger(__name__)

SYSTEM = "system"


def run_pass() -> dict[str, Any]:
    """One rescue and one dispatch, here and now (operators, benchmarks)."""
    rescued = rescue_expired_leases()
    report = dispatch.dispatch_pass()
    return {"rescued": rescued.total, "due_pairs": report.due_pairs, "woken": report.woken}


def still_leading(leadership: Leadership) -> bool:
    """The fence of the leader's writes: this process's lease is in force in the database, now."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(sql.LEADER_FENCE, {"token": leadership.token})
        return cursor.fetchone() is not None


def _bounded(seconds: float) -> None:
    """Bound the statements of the transaction in progress (SET LOCAL: pooled connections keep no setting)."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(max(1, int(seconds * 1000)))])


def leader_services(leadership: Leadership) -> list[ServiceSpec]:
    interval = settings.JOBS_SCHEDULER_INTERVAL_MS / 1000
    deadline = float(settings.JOBS_PASS_DEADLINE_SECONDS)
    owner_work = threading.Event()
    enqueuers: dict[int, periodic.Enqueuer] = {}

    def rescue(stop: threading.Event) -> None:
        # A new leader has not watched the leases: one that ran out while no scheduler reached the database (a
        # restart, a failover) may be a live worker's that could not reach it either. That worker gets one lease
        # to extend it again, or to give back a job it never started, before rescue charges the attempt.
        term = leadership.current_term()
        if term is None or not term.has_led_for(leadership.lease):
            return
        with transaction.atomic(using=SYSTEM):
            _bounded(deadline)
            if not still_leading(leadership):
                return
            report = rescue_expired_leases()
        if report.total:
            logger.info("rescue: %s", report)

    def wake_due(stop: threading.Event) -> None:
        with transaction.atomic(using=SYSTEM):
            _bounded(deadline)
            pairs = dispatch.due_pairs()
        report = dispatch.dispatch_pass(pairs=pairs)
        if report.woken:
            logger.info("dispatch: %s", {"due_pairs": report.due_pairs, "woken": report.woken})

    def enqueue_maintenance(stop: threading.Event) -> None:
        term = leadership.current_term()
        if term is None:
            return
        # A new term starts from what the database holds: the current slots' keys, not a memory.
        enqueuer = enqueuers.setdefault(term.number, periodic.Enqueuer(enqueued={}, owner_work=owner_work))
        for number in [n for n in enqueuers if n != term.number]:
            del enqueuers[number]
        enqueuer.run_once()

    synced_terms: set[int] = set()

    def enqueue_cron(stop: threading.Event) -> None:
        term = leadership.current_term()
        if term is None:
            return
        now = periodic.database_now()
        if term.number not in synced_terms:
            written = schedules.sync_declared(now=now, tenant_id=periodic.platform_tenant_id())
            synced_terms.clear()
            synced_terms.add(term.number)
            logger.info("cron enqueuer: %d schedule(s) in code, %d row(s) written", len(cron_declared()), written)
        report = schedules.enqueue_due(now=now)
        if report.enqueued or report.skipped or report.failed:
            logger.info(
                "cron enqueuer: enqueued %d job(s), skipped %d missed slot(s), %d refused",
                len(report.enqueued),
                report.skipped,
                report.failed,
            )

    def run_owner_jobs(stop: threading.Event) -> None:
        ran = owner_worker.run_owner_jobs(stop, woken=owner_work)
        if ran:
            logger.info("owner maintenance: ran %d job(s)", ran)
        # Until the next poll, or at once when the enqueuer adds an owner job.
        owner_work.wait(float(settings.JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS))

    return [
        ServiceSpec("rescue", rescue, every=interval, deadline=deadline, leader_only=True),
        ServiceSpec("dispatch", wake_due, every=interval, deadline=deadline, leader_only=True),
        ServiceSpec(
            "maintenance-enqueuer",
            enqueue_maintenance,
            every=float(settings.JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS),
            deadline=deadline,
            leader_only=True,
        ),
        ServiceSpec(
            "cron-enqueuer",
            enqueue_cron,
            every=float(settings.JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS),
            deadline=deadline,
            leader_only=True,
        ),
        ServiceSpec("owner-maintenance", run_owner_jobs, every=0.0, leader_only=True),
    ]


def run_scheduler(stop: threading.Event) -> None:
    """Until `stop`: elect, supervise the leader's services and the registered ones, then release the lease."""
    leadership = Leadership()
    run_services(stop, leadership, leader_services(leadership) + registered_services())
