"""Batches: jobs enqueued together, with callbacks that run once when the last member ends.

A member ends when it succeeds, is dead-lettered or is cancelled; each end is counted in the batch's row by
jobs.transitions in the transaction that writes it, so two members ending at once in two workers take turns on
the row and exactly one of them finishes the batch. The callbacks are jobs from the start, `waiting` (never
claimed); the last member's transaction releases them with the counts in their payload under "batch"
({"id", "total", "succeeded", "failed", "cancelled"}). `on_success` runs only when every member succeeded;
otherwise it is cancelled, and says why.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from ballast.jobs.models import Batch, Job
from ballast.jobs.services import EnqueueError, NewJob, cancel_job, enqueue_many
from ballast.jobs.states import IllegalTransition
from ballast.jobs.states import JobStatus as S
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant

MAX_BATCH_SIZE = 10_000


def enqueue_batch(
    *,
    tenant: Tenant | int,
    jobs: Sequence[NewJob],
    on_complete: NewJob | None = None,
    on_success: NewJob | None = None,
    description: str = "",
    actor: str = SYSTEM_ACTOR,
    public_only: bool = False,
) -> Batch:
    """Create a batch, its members and its callbacks in one transaction. EnqueueError for an empty or too large
    batch, or a member that could stand for an existing job (an idempotency key or a unique window)."""
    if not jobs:
        raise EnqueueError("A batch needs at least one job", field="jobs")
    if len(jobs) > MAX_BATCH_SIZE:
        raise EnqueueError(f"A batch holds at most {MAX_BATCH_SIZE} jobs; got {len(jobs)}", field="jobs")
    for new in [*jobs, *(callback for callback in (on_complete, on_success) if callback is not None)]:
        if new.idempotency_key is not None or new.unique_for is not None:
            raise EnqueueError(
                "A batch's jobs and callbacks take no idempotency key or unique window: each must be a new job",
                field="jobs",
            )
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with transaction.atomic(), tenant_scope(tenant_id):
        batch = Batch.objects.create(tenant_id=tenant_id, total=len(jobs), description=description, created_by=actor)
        callbacks = [callback for callback in (on_complete, on_success) if callback is not None]
        waiting = iter(
            enqueue_many(tenant=tenant_id, jobs=callbacks, actor=actor, public_only=public_only, waiting=True)
        )
        batch.on_complete_job_id = next(waiting).pk if on_complete is not None else None
        batch.on_success_job_id = next(waiting).pk if on_success is not None else None
        batch.save(update_fields=["on_complete_job_id", "on_success_job_id"])
        enqueue_many(tenant=tenant_id, jobs=jobs, actor=actor, public_only=public_only, batch_id=batch.pk)
        record(
            tenant_id=tenant_id,
            actor=actor,
            action="batch.enqueued",
            target_type="batch",
            target_id=batch.pk,
            data={"total": batch.total, "on_complete": batch.on_complete_job_id, "on_success": batch.on_success_job_id},
        )
    return batch


def cancel_batch(*, batch: Batch, actor: str = SYSTEM_ACTOR) -> int:
    """Cancel the batch's queued members and ask its running ones to stop; returns how many were reached. Its
    callbacks run as for any ending (on_complete once the last member ends). Safe to call twice."""
    reached = 0
    with transaction.atomic(), tenant_scope(batch.tenant_id):
        members = Job.objects.filter(batch_id=batch.pk, status__in=[S.QUEUED, S.RUNNING], cancel_requested=False)
        for job in members.order_by("id"):
            try:
                cancel_job(job=job, actor=actor)
            except IllegalTransition:
                continue  # it ended meanwhile
            reached += 1
        record(
            tenant_id=batch.tenant_id,
            actor=actor,
            action="batch.cancelled",
            target_type="batch",
            target_id=batch.pk,
            data={"members_reached": reached},
        )
    return reached
