"""Processing due jobs synchronously, without workers: for cron-driven deployments and operators."""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db import connections

from ballast.jobs import pauses
from ballast.jobs.policy import MAINTENANCE_QUEUE, SCHEDULER_QUEUES, TRIGGER_MODES
from ballast.jobs.registry import UnknownJobType, get_handler, types_of_class, types_on_queues, types_without_sync_bound
from ballast.jobs.worker import admission
from ballast.jobs.worker.claim import claim_due
from ballast.jobs.worker.run import RunReport, run_job, worker_identity

BALANCED, LEGACY = TRIGGER_MODES


@dataclass(frozen=True)
class TriggerRules:
    """How queue/process chooses what it starts inside a request.

    Both modes: a job starts only if its type's sync_timeout fits in the budget left (types without one are
    left to the workers), and it then runs under that deadline. `balanced`: the maintenance queue's due jobs
    first, then the rest by priority, at most `quotas[class]` started per call of each job class (e-mail,
    cleanup, audit). `legacy`: priority order alone, no quotas."""

    mode: str = BALANCED
    quotas: dict[str, int] = field(default_factory=dict)


@dataclass
class ProcessReport:
    processed: int
    succeeded: int
    failed: int
    retried: int
    elapsed_ms: int


def process_due_jobs(
    *,
    max_jobs: int,
    budget_ms: int,
    tenant_id: int | None = None,
    job_type: str | None = None,
    exclude_types: list[str] | None = None,
    admission_control: bool = True,
    trigger: TriggerRules | None = None,
) -> ProcessReport:
    """Claim (SKIP LOCKED) and run up to `max_jobs` due jobs, one at a time, stopping when the budget is spent.
    A job that is started is finished: the budget is checked between claims, and with `trigger` (queue/process)
    a job starts only if its type's sync_timeout fits in what is left. The e-mail rate limits and the
    concurrency caps apply as in the workers; `admission_control=False` skips them (ballast.jobs.testing only)."""
    started = time.monotonic()
    deadline = started + budget_ms / 1000
    report = RunReport()
    worker = f"process:{worker_identity()}"
    excluded = pauses.current().excluded_types() + list(exclude_types or [])  # paused types and queues wait here too
    excluded += types_on_queues(SCHEDULER_QUEUES)  # they need the owner's DSN: the scheduler runs them
    started_of_class: Counter[str] = Counter()
    maintenance_first = trigger is not None and trigger.mode == BALANCED
    try:
        while report.claimed < max_jobs and (left := deadline - time.monotonic()) > 0:
            skipped = excluded + (_not_now(trigger, left, started_of_class) if trigger is not None else [])
            claim = functools.partial(
                claim_due, limit=1, worker=worker, tenant_id=tenant_id, job_type=job_type, excluded_types=skipped
            )
            claimed = claim(queues=[MAINTENANCE_QUEUE]) if maintenance_first else []
            maintenance_first = bool(claimed)  # none due (that may start): the rest, by priority, from now on
            claimed = claimed or claim()
            if not claimed:
                break
            if admission_control and not admission.admit(claimed[0]):
                excluded.append(claimed[0].job_type)  # a full limit stays full for the rest of a short call
                continue
            started_of_class[_class_of(claimed[0].job_type)] += 1
            report.add(run_job(claimed[0], worker=worker, synchronous=trigger is not None))
    finally:
        connections["system"].close()
    return ProcessReport(
        processed=report.claimed,
        succeeded=report.count("succeeded"),
        failed=report.count("dead_letter"),
        retried=report.count("retry"),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _class_of(job_type: str) -> str:
    try:
        return get_handler(job_type).job_class or ""
    except UnknownJobType:
        return ""


def _not_now(trigger: TriggerRules, left_seconds: float, started_of_class: Counter[str]) -> list[str]:
    """The types queue/process may not start now: no sync bound within the budget left, or a spent quota."""
    types = types_without_sync_bound(left_seconds)
    if trigger.mode == BALANCED:
        for job_class, quota in trigger.quotas.items():
            if started_of_class[job_class] >= quota:
                types += types_of_class(job_class)
    return types
