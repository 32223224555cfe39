"""Reads of the jobs engine."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from ballast.jobs.models import Checkpoint, DeadLetter, Job, JobAttempt


def jobs_of_current_tenant(*, status: str | None = None, job_type: str | None = None) -> QuerySet[Job]:
    """Must run inside tenant_scope."""
    jobs = Job.objects.all()
    if status:
        jobs = jobs.filter(status=status)
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    return jobs


def job_detail(job_id: int) -> Job | None:
    """A job with its attempts and last checkpoint (two extra queries). Must run inside tenant_scope."""
    job = (
        Job.objects.filter(pk=job_id)
        .prefetch_related(Prefetch("attempt_rows", queryset=JobAttempt.objects.order_by("attempt", "started_at")))
        .first()
    )
    if job is not None:
        job.last_checkpoint = Checkpoint.objects.filter(job_id=job.pk).order_by("-sequence").first()
    return job


def dead_letters_of_current_tenant(*, status: str | None = None) -> QuerySet[DeadLetter]:
    letters = DeadLetter.objects.all()
    return letters.filter(status=status) if status else letters


def dead_letters_to_replay(*, tenant_id: int, job_type: str | None = None) -> list[DeadLetter]:
    """Recorded dead letters of one tenant (system alias: commands run outside any tenant scope)."""
    letters = DeadLetter.objects.unscoped().filter(tenant_id=tenant_id, status=DeadLetter.Status.RECORDED)
    if job_type:
        letters = letters.filter(job_type=job_type)
    return list(letters.order_by("created_at"))
