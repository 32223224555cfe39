"""Bulk actions on every job a filter matches (not only the visible page): a preview records the matching jobs
and their count; a confirmation (ops.actions.ConfirmBulk) audits the filter and the count and enqueues one
`ops.bulk` job per tenant, which works through that tenant's jobs in batches, recording progress. Only the jobs
that matched at preview time are touched; one that has moved on since is skipped."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from ballast.jobs import services as jobs_services
from ballast.jobs.models import Job
from ballast.jobs.states import IllegalTransition
from ballast.ops import selectors
from ballast.ops.models import BulkOperation
from ballast.tenants.context import tenant_scope

ACTIONS = ("retry", "cancel", "discard")
MAX_MATCHES = 100_000
BATCH = 100
APP = "default"


def preview(*, action: str, where: selectors.JobFilter, actor: str) -> BulkOperation:
    matched = selectors.matching_ids(where, limit=MAX_MATCHES)
    return BulkOperation.objects.using(APP).create(
        action=action,
        filter=where.describe(),
        matched=[[tenant_id, job_id] for tenant_id, job_id in matched],
        count=len(matched),
        created_by=actor,
    )


def apply_one(action: str, job: Job, actor: str) -> bool:
    """The action on one job (the jobs services), inside its tenant's scope; False when the job is no longer in a
    state it applies to."""
    try:
        if action == "retry":
            jobs_services.retry_job(job=job, actor=actor)
        elif action == "cancel":
            jobs_services.cancel_job(job=job, actor=actor)
        else:
            jobs_services.discard_job(job=job, actor=actor)
    except IllegalTransition:
        return False
    return True


def run_batches(*, bulk_id: int, tenant_id: int, start: int = 0, on_batch: Any = None) -> int:
    """Work through this tenant's matched jobs from index `start`; returns the index reached."""
    bulk = BulkOperation.objects.using(APP).get(pk=bulk_id)
    ids = [job_id for tenant, job_id in bulk.matched if tenant == tenant_id]
    actor = bulk.confirmed_by or bulk.created_by
    position = start
    while position < len(ids):
        chunk = ids[position : position + BATCH]
        with tenant_scope(tenant_id):
            changed = 0
            for job in Job.objects.filter(pk__in=chunk).order_by("id"):
                changed += apply_one(bulk.action, job, actor)
            BulkOperation.objects.using(APP).filter(pk=bulk_id).update(
                processed=F("processed") + len(chunk),
                changed=F("changed") + changed,
                skipped=F("skipped") + len(chunk) - changed,
            )
        position += len(chunk)
        if on_batch is not None:
            on_batch(position)
    BulkOperation.objects.using(APP).filter(pk=bulk_id, processed__gte=F("count")).update(
        status=BulkOperation.Status.DONE, finished_at=timezone.now()
    )
    return position
