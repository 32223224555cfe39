"""Cleanup passes: abandoned intents and orphaned tmp/ objects, and the trash past retention.

Each pass runs for one tenant (inside its scope: in a job, the job's own transaction), deletes what it may,
and records a CleanupRun with its counts, bytes and errors. Deleting an object twice is harmless, so a pass
that dies half-way is simply run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models.functions import Now
from django.utils import timezone

from ballast.lib import metrics
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.uploads import keys, selectors, services
from ballast.uploads.models import CleanupRun, Document, UploadIntent
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.base import Storage

logger = logging.getLogger(__name__)

S = UploadIntent.Status
# Intents that never became documents: past expiry plus the grace period, their objects go.
ABANDONED = (S.PENDING, S.UPLOADED, S.EXPIRED, S.FAILED)
KEY_BATCH = 500
# A purge deletes its object after commit; only one whose deletion is this old is retried.
PURGE_RETRY_AFTER = timedelta(minutes=5)


@dataclass
class Report:
    intents_cleaned: int = 0
    orphans_deleted: int = 0
    documents_purged: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def deleted(self, size: int | None) -> None:
        if size is not None:
            self.objects_deleted += 1
            self.bytes_freed += size

    def failed(self, what: str, exc: Exception) -> None:
        logger.warning("cleanup: %s: %s", what, exc)
        self.errors.append({"target": what, "error": f"{type(exc).__name__}: {exc}"[:500]})

    def as_dict(self) -> dict[str, Any]:
        return {
            "intents_cleaned": self.intents_cleaned,
            "orphans_deleted": self.orphans_deleted,
            "documents_purged": self.documents_purged,
            "objects_deleted": self.objects_deleted,
            "bytes_freed": self.bytes_freed,
            "errors": self.errors,
        }


def _remove(storage: Storage, key: str, *, dry_run: bool) -> int | None:
    if dry_run:
        info = storage.head(key)
        return info.size if info is not None else None
    return storage.delete(key)


def _clean_abandoned(storage: Storage, report: Report, *, dry_run: bool, actor: str) -> None:
    grace = timedelta(seconds=settings.UPLOAD_CLEANUP_GRACE_SECONDS)
    due = UploadIntent.objects.filter(status__in=ABANDONED, expires_at__lt=Now() - grace).order_by("id")
    for intent in due.iterator(chunk_size=200):
        freed = 0
        try:
            for key in (intent.storage_key, intent.docs_key):
                size = _remove(storage, key, dry_run=dry_run)
                report.deleted(size)
                freed += size or 0
        except Exception as exc:
            report.failed(f"upload {intent.pk}", exc)
            continue
        report.intents_cleaned += 1
        if dry_run:
            continue
        UploadIntent.objects.filter(pk=intent.pk, status__in=ABANDONED).update(
            status=S.CLEANED, cleaned_at=Now(), updated_at=Now()
        )
        record(
            tenant_id=intent.tenant_id,
            actor=actor,
            action="upload.cleaned",
            target_type="upload",
            target_id=intent.pk,
            trace_id=intent.trace_id,
            data={"previous": intent.status, "bytes_freed": freed},
        )


def _delete_orphans(storage: Storage, tenant_id: int, report: Report, *, dry_run: bool, actor: str) -> None:
    """tmp/ objects that no live intent knows. An object only exists once its intent has committed, so
    listing first and asking the database second cannot mistake a new upload for an orphan."""
    batch: list[tuple[str, int]] = []

    def sweep() -> None:
        live = selectors.live_keys([key for key, _ in batch])
        for key, size in batch:
            if key in live:
                continue
            try:
                freed = size if dry_run else storage.delete(key)
            except Exception as exc:
                report.failed(key, exc)
                continue
            report.orphans_deleted += 1
            report.deleted(freed)
            if not dry_run:
                record(
                    tenant_id=tenant_id,
                    actor=actor,
                    action="upload.orphan_deleted",
                    target_type="storage_object",
                    target_id=key,
                    data={"bytes": freed or 0},
                )
        batch.clear()

    for info in storage.list(keys.tmp_prefix(tenant_id)):
        parsed = keys.parse(info.key)
        if parsed is None or parsed.tenant_id != tenant_id:
            continue
        batch.append((info.key, info.size))
        if len(batch) >= KEY_BATCH:
            sweep()
    if batch:
        sweep()


def _finish(
    tenant_id: int, kind: str, report: Report, *, dry_run: bool, job_id: int | None, started_at: datetime
) -> CleanupRun:
    finished_at = timezone.now()
    if not dry_run:
        metrics.maintenance_run(task=f"uploads.cleanup.{kind}", seconds=(finished_at - started_at).total_seconds())
    return CleanupRun.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        trigger=CleanupRun.Trigger.JOB if job_id is not None else CleanupRun.Trigger.COMMAND,
        job_id=job_id,
        dry_run=dry_run,
        started_at=started_at,
        finished_at=finished_at,
        **report.as_dict(),
    )


def clean_intents(
    *, tenant_id: int, dry_run: bool = False, job_id: int | None = None, actor: str = SYSTEM_ACTOR
) -> CleanupRun:
    """Intents past expiry + UPLOAD_CLEANUP_GRACE_SECONDS lose their objects and become `cleaned` (audited);
    then tmp/ objects that no live intent knows are deleted. A dry run counts without deleting or auditing."""
    storage = get_storage()
    report = Report()
    started_at = timezone.now()
    with tenant_scope(tenant_id):
        _clean_abandoned(storage, report, dry_run=dry_run, actor=actor)
        try:
            _delete_orphans(storage, tenant_id, report, dry_run=dry_run, actor=actor)
        except Exception as exc:  # listing failed: the counts so far still count
            report.failed(keys.tmp_prefix(tenant_id), exc)
        return _finish(
            tenant_id, CleanupRun.Kind.INTENTS, report, dry_run=dry_run, job_id=job_id, started_at=started_at
        )


def purge_trash(
    *, tenant_id: int, dry_run: bool = False, job_id: int | None = None, actor: str = SYSTEM_ACTOR
) -> CleanupRun:
    """Documents in the trash longer than TRASH_RETENTION_DAYS are purged (`document.purged`, objects deleted
    after commit); purged documents whose object deletion never got confirmed are deleted again."""
    report = Report()
    started_at = timezone.now()
    retention = timedelta(days=settings.TRASH_RETENTION_DAYS)
    with tenant_scope(tenant_id):
        expired = Document.objects.filter(status=Document.Status.TRASHED, trashed_at__lt=Now() - retention)
        for document in expired.order_by("id").iterator(chunk_size=200):
            report.documents_purged += 1
            report.objects_deleted += 1
            report.bytes_freed += document.size
            if not dry_run:
                services.purge_document(document=document, actor=actor)
        unconfirmed = Document.objects.filter(
            status=Document.Status.PURGED, object_deleted_at__isnull=True, purged_at__lt=Now() - PURGE_RETRY_AFTER
        )
        for document in unconfirmed.order_by("id"):
            if dry_run:
                continue
            freed = services.delete_purged_object(tenant_id, document.pk, document.storage_key)
            report.deleted(freed)
        return _finish(tenant_id, CleanupRun.Kind.TRASH, report, dry_run=dry_run, job_id=job_id, started_at=started_at)
