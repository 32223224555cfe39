"""Processing due jobs synchronously, without workers: for cron-driven deployments and operators."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connections

from jobs.claims import claim_due
from jobs.execution import BatchReport, run_claimed, worker_identity

CHUNK = 5


@dataclass
class ProcessReport:
    processed: int
    succeeded: int
    failed: int
    retried: int
    elapsed_ms: int


def process_due_jobs(
    *, max_jobs: int, budget_ms: int, tenant_id: int | None = None, job_type: str | None = None
) -> ProcessReport:
    """Claim (FOR UPDATE SKIP LOCKED) and run up to `max_jobs` due jobs, stopping when the budget is spent.
    A job that is started is finished: the budget is checked between claims."""
    started = time.monotonic()
    deadline = started + budget_ms / 1000
    report = BatchReport()
    worker = f"process:{worker_identity()}"
    processed = 0
    try:
        while processed < max_jobs and time.monotonic() < deadline:
            claimed = claim_due(
                limit=min(CHUNK, max_jobs - processed), worker=worker, tenant_id=tenant_id, job_type=job_type
            )
            if not claimed:
                break
            processed += len(claimed)
            by_tenant: dict[int, list] = {}
            for job in claimed:
                by_tenant.setdefault(job.tenant_id, []).append(job)
            for jobs in by_tenant.values():
                run_claimed(jobs, worker=worker, report=report)
    finally:
        connections["system"].close()
    return ProcessReport(
        processed=processed,
        succeeded=report.succeeded,
        failed=report.failed,
        retried=report.retried,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
