"""The worker side: claim → run the handler inside tenant_scope → acknowledge, fenced by the lease.

One RQ message carries up to JOBS_BATCH_SIZE jobs of one tenant. They are claimed in one UPDATE; each
handler runs in its own savepoint together with its acknowledgement, so a handler's writes commit
exactly when its success does, and a worker that lost its lease commits neither. Acknowledgements are
committed in groups (at most GROUP_SECONDS of work per commit) to save round trips.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from jobs import admission, outcomes, policy
from jobs.claims import ClaimedJob, claim_ids
from jobs.context import JobCancelled, JobContext, PermanentError
from jobs.events import job_trace, outcome_event
from jobs.leases import LeaseKeeper, LeaseLost
from jobs.models import JobAttempt
from jobs.registry import HandlerSpec, UnknownJobType, get_handler
from outbox.services import NewEvent, insert_events
from outbox.tracing import trace_context
from tenants.context import tenant_scope

logger = logging.getLogger(__name__)

GROUP_SECONDS = 0.2
Outcome = JobAttempt.Outcome


class JobTimeout(Exception):
    pass


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with JobTimeout after `seconds` (main thread only; elsewhere no limit).
    An outer alarm (RQ's own message timeout) is put back afterwards with its remaining time."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise JobTimeout(f"Handler exceeded its timeout of {seconds:g} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_remaining, _interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_remaining > 0:
            left = previous_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


@dataclass
class BatchReport:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    lease_lost: int = 0
    deferred: int = 0

    def add(self, outcome: str) -> None:
        if outcome == Outcome.SUCCEEDED:
            self.succeeded += 1
        elif outcome == "retry":
            self.retried += 1
        elif outcome == "dead_letter":
            self.failed += 1
        elif outcome == Outcome.CANCELLED:
            self.cancelled += 1
        elif outcome == Outcome.LEASE_LOST:
            self.lease_lost += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retried": self.retried,
            "cancelled": self.cancelled,
            "lease_lost": self.lease_lost,
            "deferred": self.deferred,
        }


def run_message(message: dict[str, Any]) -> dict[str, int]:
    """The RQ entry point: run the jobs a message names, if they are still queued and due."""
    try:
        tenant_id = int(message["tenant_id"])
        job_ids = [int(item["job_id"]) for item in message["jobs"]]
        types = {int(item["job_id"]): str(item["job_type"]) for item in message["jobs"]}
    except (KeyError, TypeError, ValueError):
        logger.error("dropping a malformed message: %r", message)
        return {}
    try:
        return run_jobs(tenant_id, job_ids, types=types).as_dict()
    finally:
        connections.close_all()  # back to the pool: a SimpleWorker process lives long


def run_jobs(tenant_id: int, job_ids: list[int], *, types: dict[int, str], worker: str | None = None) -> BatchReport:
    worker = worker or worker_identity()
    report = BatchReport()
    by_type: dict[str, list[int]] = {}
    for job_id in job_ids:
        by_type.setdefault(types.get(job_id, ""), []).append(job_id)
    claimed: list[ClaimedJob] = []
    for job_type, ids in by_type.items():
        claimed += _admit_and_claim(tenant_id, job_type, ids, worker, report)
    if claimed:
        report.claimed = len(claimed)
        run_claimed(claimed, worker=worker, report=report)
    return report


def _admit_and_claim(
    tenant_id: int, job_type: str, ids: list[int], worker: str, report: BatchReport
) -> list[ClaimedJob]:
    try:
        spec = get_handler(job_type)
    except UnknownJobType:
        spec = None  # claimed anyway, then dead-lettered as permanent: a message never loses a job
    limits = policy.rate_limits(spec.queue, tenant_id) if spec else []
    if limits:
        for index in range(len(ids)):
            wait = admission.take_rate_tokens(limits)
            if wait:
                admission.defer(ids[index:], wait)
                report.deferred += len(ids) - index
                ids = ids[:index]
                break
    with admission.concurrency_slots(job_type, spec.concurrency if spec else None) as slots:
        allowed = ids if slots is None else ids[:slots]
        with tenant_scope(tenant_id):
            claimed = claim_ids(allowed, worker=worker)
    held_back = ids[len(allowed) :]
    if held_back:
        admission.defer(held_back, admission.CAP_RETRY_SECONDS)
        report.deferred += len(held_back)
    return claimed


def run_claimed(claimed: list[ClaimedJob], *, worker: str, report: BatchReport) -> None:
    """Run claimed jobs of one tenant, committing acknowledgements in groups."""
    tenant_id = claimed[0].tenant_id
    pending = list(claimed)
    with LeaseKeeper({job.id: job.lease_token for job in claimed}) as keeper:
        while pending:
            group_started = time.monotonic()
            attempts: list[JobAttempt] = []
            events: list[NewEvent] = []
            done: list[int] = []
            with tenant_scope(tenant_id):
                while pending:
                    job = pending.pop(0)
                    outcome, attempt = _run_one(job, worker)
                    report.add(outcome)
                    attempts.append(attempt)
                    event = (
                        outcome_event(job, outcome, error=attempt.error)
                        if attempt.error
                        else outcome_event(job, outcome)
                    )
                    if event is not None:
                        events.append(event)
                    done.append(job.id)
                    if time.monotonic() - group_started > GROUP_SECONDS:
                        break
                # Same transaction as the acknowledgements: an event exists exactly when its state change does.
                JobAttempt.objects.bulk_create(attempts)
                insert_events(events)
            keeper.release(done)


def _run_one(job: ClaimedJob, worker: str) -> tuple[str, JobAttempt]:
    started = timezone.now()
    spec: HandlerSpec | None = None
    error = trace = ""
    try:
        spec = get_handler(job.job_type)
        context = JobContext(
            tenant_id=job.tenant_id,
            job_id=job.id,
            attempt=job.attempt,
            trace_id=job.trace_id,
            correlation_id=job.correlation_id,
            lease_token=job.lease_token,
        )
        with transaction.atomic():
            with deadline(spec.timeout), trace_context(job_trace(job)):
                result = spec.func(context, job.payload)
            encoded = outcomes.encode_result(result)
            if not outcomes.succeed(job, encoded):
                raise LeaseLost(f"Job {job.id} attempt {job.attempt} lost its lease before acknowledging")
        outcome = str(Outcome.SUCCEEDED)
    except LeaseLost as exc:
        outcome, error = str(Outcome.LEASE_LOST), str(exc)
    except JobCancelled as exc:
        with transaction.atomic():
            outcome = str(Outcome.CANCELLED) if outcomes.cancel_running(job) else str(Outcome.LEASE_LOST)
        error = str(exc)
    except Exception as exc:
        permanent = isinstance(exc, PermanentError | UnknownJobType | outcomes.ResultTooLarge)
        error = f"{type(exc).__name__}: {exc}"
        trace = traceback.format_exc()
        with transaction.atomic():
            outcome = outcomes.fail(job, error, spec, permanent=permanent) or str(Outcome.LEASE_LOST)
    finished = timezone.now()
    attempt = JobAttempt(
        tenant_id=job.tenant_id,
        job_id=job.id,
        attempt=job.attempt,
        worker=worker,
        started_at=started,
        finished_at=finished,
        outcome=_attempt_outcome(outcome),
        error=error[: outcomes.MAX_ERROR_CHARS],
        traceback=trace[-outcomes.MAX_ERROR_CHARS :],
        duration_ms=_ms(started, finished),
    )
    return outcome, attempt


def _attempt_outcome(outcome: str) -> str:
    return {"retry": Outcome.FAILED, "dead_letter": Outcome.FAILED}.get(outcome, outcome)


def _ms(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000))
