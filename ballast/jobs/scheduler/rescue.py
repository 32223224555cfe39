"""Rescue: a running job whose lease expired (its worker died, hung or lost its connection) is taken back.

It is cancelled if a cancel was requested, retried if attempts are left, dead-lettered otherwise; the lost
attempt is recorded. Its queue is woken by the next dispatch pass once it is due again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction

from ballast.jobs import sql
from ballast.jobs.events import outcome_event
from ballast.jobs.models import DeadLetter, JobAttempt
from ballast.jobs.registry import UnknownJobType, get_handler
from ballast.jobs.worker.claim import from_row
from ballast.jobs.worker.complete import attempt_row, end_unsuccessfully
from ballast.outbox.services import insert_events

SYSTEM = "system"
LOST_ERROR = "Lease expired: the worker died, hung or lost its connection"


@dataclass
class RescueReport:
    retried: int = 0
    dead_lettered: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.retried + self.dead_lettered + self.cancelled


def rescue_expired_leases(*, limit: int = 500) -> RescueReport:
    """One pass. Safe to run concurrently (SKIP LOCKED) and twice (a rescued job no longer matches)."""
    report = RescueReport()
    with transaction.atomic(using=SYSTEM):
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(sql.EXPIRED_LEASES, {"limit": limit})
            jobs = [from_row(row) for row in cursor.fetchall()]
        events = []
        for job in jobs:
            try:
                spec = get_handler(job.job_type)
            except UnknownJobType:
                spec = None
            outcome = end_unsuccessfully(
                job,
                spec=spec,
                error=LOST_ERROR,
                cancel_requested=job.cancel_requested,
                using=SYSTEM,
                dead_letter_reason=DeadLetter.Reason.LEASE_EXPIRED,
            )
            if outcome == "retry":
                report.retried += 1
            elif outcome == "dead_letter":
                report.dead_lettered += 1
            elif outcome == "cancelled":
                report.cancelled += 1
            attempt_row(job, worker=job.worker, outcome=JobAttempt.Outcome.LOST, error=LOST_ERROR, using=SYSTEM)
            events.append(outcome_event(job, outcome, error=LOST_ERROR))
        insert_events([event for event in events if event is not None], using=SYSTEM)
    return report
