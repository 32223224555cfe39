"""Processing due jobs synchronously, without workers: for cron-driven deployments and operators."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connections

from ballast.jobs import pauses
from ballast.jobs.policy import SCHEDULER_QUEUES
from ballast.jobs.registry import types_on_queues
from ballast.jobs.worker import admission
from ballast.jobs.worker.claim import claim_due
from ballast.jobs.worker.run import RunReport, run_job, worker_identity


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
) -> ProcessReport:
    """Claim (SKIP LOCKED) and run up to `max_jobs` due jobs, one at a time, stopping when the budget is spent.
    A job that is started is finished: the budget is checked between claims. The e-mail rate limits and the
    concurrency caps apply as in the workers; `admission_control=False` skips them (ballast.jobs.testing only)."""
    started = time.monotonic()
    deadline = started + budget_ms / 1000
    report = RunReport()
    worker = f"process:{worker_identity()}"
    excluded = pauses.current().excluded_types() + list(exclude_types or [])  # paused types and queues wait here too
    excluded += types_on_queues(SCHEDULER_QUEUES)  # they need the owner's DSN: the scheduler runs them
    try:
        while report.claimed < max_jobs and time.monotonic() < deadline:
            claimed = claim_due(limit=1, worker=worker, tenant_id=tenant_id, job_type=job_type, excluded_types=excluded)
            if not claimed:
                break
            if admission_control and not admission.admit(claimed[0]):
                excluded.append(claimed[0].job_type)  # a full limit stays full for the rest of a short call
                continue
            report.add(run_job(claimed[0], worker=worker))
    finally:
        connections["system"].close()
    return ProcessReport(
        processed=report.claimed,
        succeeded=report.count("succeeded"),
        failed=report.count("dead_letter"),
        retried=report.count("retry"),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
