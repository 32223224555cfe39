"""Reads of the jobs engine for tenants' API credentials: only jobs of public types (ballast.jobs.registry). Internal
and operator jobs (deliveries, cleanups, bulk actions) are the operators' to see, through the console."""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, QuerySet

from ballast.jobs.models import Batch, Checkpoint, DeadLetter, Job, JobAttempt, Schedule
from ballast.jobs.registry import public_type_names


def jobs_of_current_tenant(*, status: str | None = None, job_type: str | None = None) -> QuerySet[Job]:
    """Must run inside tenant_scope."""
    jobs = Job.objects.filter(job_type__in=public_type_names())
    if status:
        jobs = jobs.filter(status=status)
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    return jobs


def job_detail(job_id: int) -> Job | None:
    """A job with its attempts and last checkpoint (two extra queries). Must run inside tenant_scope."""
    job = (
        Job.objects.filter(pk=job_id, job_type__in=public_type_names())
        .prefetch_related(Prefetch("attempt_rows", queryset=JobAttempt.objects.order_by("attempt", "started_at")))
        .first()
    )
    if job is not None:
        job.last_checkpoint = Checkpoint.objects.filter(job_id=job.pk).order_by("-sequence").first()
    return job


def dead_letters_of_current_tenant(*, status: str | None = None) -> QuerySet[DeadLetter]:
    """Must run inside tenant_scope."""
    letters = DeadLetter.objects.filter(job_type__in=public_type_names())
    return letters.filter(status=status) if status else letters


def dead_letters_to_replay(*, tenant_id: int, job_type: str | None = None) -> list[DeadLetter]:
    """Recorded dead letters of one tenant (system alias: commands run outside any tenant scope)."""
    letters = DeadLetter.objects.unscoped().filter(tenant_id=tenant_id, status=DeadLetter.Status.RECORDED)
    if job_type:
        letters = letters.filter(job_type=job_type)
    return list(letters.order_by("created_at"))


def schedules_of_current_tenant() -> QuerySet[Schedule]:
    """The tenant's own schedules: those declared in code are the platform's, never a tenant's to see. Must run
    inside tenant_scope."""
    return Schedule.objects.filter(declared_in_code=False)


def schedules_for_operators(*, tenant_id: int | None = None) -> list[Schedule]:
    """Every schedule (operators' and code-declared) of one tenant or all, soonest next run first, paused last
    (system alias: commands run outside any tenant scope)."""
    found = Schedule.objects.unscoped().order_by(F("next_run_at").asc(nulls_last=True), "name")
    return list(found.filter(tenant_id=tenant_id) if tenant_id is not None else found)


def batch_progress(batch_id: int) -> tuple[Batch, dict[str, int]] | None:
    """A batch and how many of its members are in each state (one grouped read on the batch index). Must run
    inside tenant_scope."""
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None:
        return None
    rows = Job.objects.filter(batch_id=batch.pk).values_list("status").annotate(count=Count("id"))
    return batch, {status: count for status, count in rows}
