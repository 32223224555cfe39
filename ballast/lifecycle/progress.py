"""The progress of a lifecycle job (tenant purge, table backfill): its status and latest checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYSTEM = "system"


@dataclass(frozen=True)
class JobProgress:
    status: str
    checkpoint: dict[str, Any] | None
    error: str


def job_progress(job_id: int) -> JobProgress:
    """Read across tenants (system alias): operators follow any tenant's job."""
    from ballast.jobs.models import Checkpoint, Job, JobAttempt

    job = Job.objects.unscoped(SYSTEM).get(pk=job_id)
    last = Checkpoint.objects.unscoped(SYSTEM).filter(job_id=job_id).order_by("-sequence").first()
    attempt = JobAttempt.objects.unscoped(SYSTEM).filter(job_id=job_id).order_by("-attempt").first()
    return JobProgress(
        status=str(job.status),
        checkpoint=None if last is None else last.state,
        error="" if attempt is None else str(attempt.error or ""),
    )
