"""Putting the cleanup jobs on the queue: hourly for every tenant, or on demand, never two at once per tenant."""

from __future__ import annotations

from dataclasses import dataclass

from ballast.jobs.models import Job
from ballast.jobs.services import enqueue_or_revive
from ballast.tenants.audit import SYSTEM_ACTOR
from ballast.tenants.models import Tenant
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.local import LocalStorage

CLEANUP_INTENTS = "uploads.cleanup_intents"
PURGE_TRASH = "uploads.purge_trash"
# Deletes what a spent direct policy stored once it has expired (S3 cannot revoke a presigned POST).
CONSUME_KEY = "uploads.consume_key"
JOB_TYPES = (CLEANUP_INTENTS, PURGE_TRASH)


@dataclass(frozen=True)
class Scheduled:
    tenant_id: int
    job: Job


def schedule_cleanup(*, tenant_id: int, job_type: str = CLEANUP_INTENTS, actor: str = SYSTEM_ACTOR) -> Job:
    """The tenant's cleanup job of this type: a new one, or the unfinished one brought forward or taken back."""
    return enqueue_or_revive(tenant=tenant_id, job_type=job_type, payload={}, key=job_type, actor=actor)


PARTIAL_MAX_AGE_SECONDS = 24 * 3600


def sweep_local_partials() -> int:
    """The local backend only: writes that a killed process left under `.partial/` for a day are deleted."""
    storage = get_storage()
    return storage.sweep_partials(older_than=PARTIAL_MAX_AGE_SECONDS) if isinstance(storage, LocalStorage) else 0


def schedule_cleanups(*, tenant_ids: list[int] | None = None, actor: str = SYSTEM_ACTOR) -> list[Scheduled]:
    """Both cleanup jobs for these tenants (every tenant when None). Crosses tenants: system code."""
    if tenant_ids is None:
        tenant_ids = list(Tenant.objects.using("system").order_by("id").values_list("id", flat=True))
    return [
        Scheduled(tenant_id=tenant_id, job=schedule_cleanup(tenant_id=tenant_id, job_type=job_type, actor=actor))
        for tenant_id in tenant_ids
        for job_type in JOB_TYPES
    ]
