"""Taking back what dead workers held: a running job whose lease expired is retried or dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction
from django.utils import timezone

from jobs import outcomes
from jobs.claims import CLAIM_COLUMNS, claimed_from_row
from jobs.events import outcome_event
from jobs.models import DeadLetter, JobAttempt
from jobs.registry import UnknownJobType, get_handler
from outbox.services import insert_events

SYSTEM = "system"
LOST_ERROR = "Lease expired: the worker died, hung or lost its connection"


@dataclass
class ReapReport:
    retried: int = 0
    dead_lettered: int = 0

    @property
    def total(self) -> int:
        return self.retried + self.dead_lettered


def reap_expired_leases(*, limit: int = 500) -> ReapReport:
    """One pass. Safe to run concurrently (SKIP LOCKED) and twice (a reaped job no longer matches)."""
    report = ReapReport()
    with transaction.atomic(using=SYSTEM):
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                f"SELECT {CLAIM_COLUMNS} FROM jobs_job WHERE status = 'running' AND lease_expires_at < now() "  # noqa: S608
                "ORDER BY lease_expires_at LIMIT %s FOR UPDATE SKIP LOCKED",
                [limit],
            )
            rows = cursor.fetchall()
        jobs = [claimed_from_row(row, started_at=row[-1] or timezone.now()) for row in rows]
        attempts = []
        events = []
        for job in jobs:
            try:
                spec = get_handler(job.job_type)
            except UnknownJobType:
                spec = None
            if job.attempt < job.max_attempts:
                outcomes.retry_later(job, LOST_ERROR, spec, using=SYSTEM)
                report.retried += 1
                outcome = "retry"
            else:
                outcomes.dead_letter(job, reason=DeadLetter.Reason.LEASE_EXPIRED, error=LOST_ERROR, using=SYSTEM)
                report.dead_lettered += 1
                outcome = "dead_letter"
            event = outcome_event(job, outcome, error=LOST_ERROR)
            if event is not None:
                events.append(event)
            attempts.append(
                JobAttempt(
                    tenant_id=job.tenant_id,
                    job_id=job.id,
                    attempt=job.attempt,
                    started_at=job.started_at,
                    finished_at=timezone.now(),
                    outcome=JobAttempt.Outcome.LOST,
                    error=LOST_ERROR,
                )
            )
        JobAttempt.objects.unscoped(SYSTEM).bulk_create(attempts)
        insert_events(events, using=SYSTEM)
    return report
