"""An attempt's metrics, counted by the worker that runs it (ballast.lib.metrics): started with its wait (due to
claimed, database times), then its outcome and run time."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from ballast.jobs.registry import is_registered
from ballast.jobs.worker.claim import ClaimedJob
from ballast.lib import metrics

P = ParamSpec("P")
Attempt = tuple[str, ClaimedJob | None]

# Attempt outcomes (jobs.worker.run) as counters of ballast.lib.metrics; a lost lease ran but has no counter.
OUTCOMES: dict[str, str | None] = {
    "succeeded": "succeeded",
    "retry": "retried",
    "dead_letter": "dead_lettered",
    "cancelled": "cancelled",
    "lease_lost": None,
}


def started(job: ClaimedJob) -> None:
    wait = (job.started_at - job.available_at).total_seconds() if job.available_at else 0.0
    metrics.job_started(job_type=job.job_type, queue=job.queue, tenant_id=job.tenant_id, wait_seconds=wait)


def ended(job: ClaimedJob, outcome: str, run_seconds: float) -> None:
    if outcome not in OUTCOMES:  # never started (an unknown type, a database gone before the handler)
        return
    metrics.job_ended(
        job_type=job.job_type,
        queue=job.queue,
        tenant_id=job.tenant_id,
        outcome=OUTCOMES[outcome],
        run_seconds=run_seconds,
    )


def observed(run: Callable[Concatenate[ClaimedJob, P], Attempt]) -> Callable[Concatenate[ClaimedJob, P], Attempt]:
    """Wraps jobs.worker.run.run_job_and_claim(job, ...): counts the start of a job of a known type, then its end."""

    @functools.wraps(run)
    def wrapper(job: ClaimedJob, /, *args: P.args, **kwargs: P.kwargs) -> Attempt:
        if is_registered(job.job_type):
            started(job)
        began = time.monotonic()
        result = run(job, *args, **kwargs)
        ended(job, result[0], time.monotonic() - began)
        return result

    return wrapper
