"""Bulk actions on every job a filter matches (not only the visible page; Oban's retry_all_jobs): a preview
records the matching jobs and their count; a confirmation (jobs.actions.confirm_bulk) audits the filter and the
count and enqueues one `ops.bulk` job per tenant, which works through that tenant's jobs in batches with the same
services as one job's retry, cancel or discard, recording progress. Only the jobs that matched at preview time are
touched; one that has moved on since is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from ballast.jobs import services as jobs_services
from ballast.jobs import sql as jobs_sql
from ballast.jobs.models import BulkOperation, Job
from ballast.jobs.states import IllegalTransition
from ballast.tenants.context import tenant_scope

ACTIONS = ("retry", "cancel", "discard")
JOB_TYPE = "ops.bulk"
MAX_MATCHES = 100_000
BATCH = 100
APP = "default"
SYSTEM = "system"


@dataclass(frozen=True)
class JobFilter:
    """A filter over every tenant's jobs (jobs.sql.JOB_FILTER): the console's jobs browser and bulk actions."""

    tenant_id: int | None = None
    job_type: str = ""
    status: str = ""
    queue: str = ""
    since: datetime | None = None
    until: datetime | None = None
    payload_text: str = ""
    error_text: str = ""

    def describe(self) -> dict[str, Any]:
        """The filter as stored and audited (only what is set)."""
        values = {
            "tenant_id": self.tenant_id,
            "job_type": self.job_type,
            "status": self.status,
            "queue": self.queue,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "payload_text": self.payload_text,
            "error_text": self.error_text,
        }
        return {key: value for key, value in values.items() if value not in (None, "")}

    def params(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "job_type": self.job_type or None,
            "status": self.status or None,
            "queue": self.queue or None,
            "since": self.since,
            "until": self.until,
            "payload": f"%{self.payload_text}%" if self.payload_text else None,
            "error": f"%{self.error_text}%" if self.error_text else None,
        }


_WORDS = (
    ("status", "status is {}"),
    ("job_type", "type is {}"),
    ("queue", "queue is {}"),
    ("tenant_id", "tenant {}"),
    ("since", "created from {}"),
    ("until", "created before {}"),
    ("payload_text", "payload contains “{}”"),
    ("error_text", "error contains “{}”"),
)


def filter_in_words(stored: dict[str, Any], *, tenant_names: dict[int, str] | None = None) -> str:
    """A stored filter (JobFilter.describe) as an operator reads it: "status is failed, type is
    diagnostics.fail, tenant acme"; "every job" when nothing is set."""
    names = tenant_names or {}
    parts = []
    for key, words in _WORDS:
        if key not in stored:
            continue
        value = stored[key]
        if key == "tenant_id":
            value = names.get(int(value), f"#{value}")
        parts.append(words.format(value))
    return ", ".join(parts) or "every job"


def matching_ids(where: JobFilter, *, limit: int) -> list[tuple[int, int]]:
    """Every job the filter matches (up to `limit`), by id: what a bulk action touches."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(jobs_sql.JOB_IDS_FILTERED, {**where.params(), "limit": limit})
        return [(tenant_id, job_id) for tenant_id, job_id in cursor.fetchall()]


def preview(*, action: str, where: JobFilter, actor: str) -> BulkOperation:
    matched = matching_ids(where, limit=MAX_MATCHES)
    return BulkOperation.objects.using(SYSTEM).create(
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
    bulk = BulkOperation.objects.using(SYSTEM).get(pk=bulk_id)
    ids = [job_id for tenant, job_id in bulk.matched if tenant == tenant_id]
    actor = bulk.confirmed_by or bulk.created_by
    position = start
    while position < len(ids):
        chunk = ids[position : position + BATCH]
        with transaction.atomic(using=SYSTEM), tenant_scope(tenant_id):  # the progress commits with its batch
            changed = 0
            for job in Job.objects.filter(pk__in=chunk).order_by("id"):
                changed += apply_one(bulk.action, job, actor)
            BulkOperation.objects.using(SYSTEM).filter(pk=bulk_id).update(
                processed=F("processed") + len(chunk),
                changed=F("changed") + changed,
                skipped=F("skipped") + len(chunk) - changed,
            )
        position += len(chunk)
        if on_batch is not None:
            on_batch(position)
    BulkOperation.objects.using(SYSTEM).filter(pk=bulk_id, processed__gte=F("count")).update(
        status=BulkOperation.Status.DONE, finished_at=timezone.now()
    )
    return position
