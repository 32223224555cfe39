"""Reads of intents, documents and cleanup runs. All must run inside tenant_scope (unless they say otherwise)."""

from __future__ import annotations

from datetime import datetime

from django.db import connections
from django.db.models import QuerySet, Sum
from django.db.models.functions import Now

from ballast.uploads.models import CleanupRun, Document, UploadIntent

S = UploadIntent.Status
LIVE = (S.PENDING, S.UPLOADED)  # may still become documents


def database_now(using: str = "default") -> datetime:
    """Postgres' clock (the transaction's start): times compared with now() in SQL come from here."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT now()")
        row = cursor.fetchone()
    assert row is not None
    return row[0]


def intents(*, status: str | None = None) -> QuerySet[UploadIntent]:
    found = UploadIntent.objects.all()
    return found.filter(status=status) if status else found


def intent_or_none(intent_id: int) -> UploadIntent | None:
    return UploadIntent.objects.select_related("document").filter(pk=intent_id).first()


def documents(*, status: str = Document.Status.ACTIVE) -> QuerySet[Document]:
    return Document.objects.filter(status=status)


def document_or_none(document_id: int) -> Document | None:
    return Document.objects.filter(pk=document_id).first()


def bytes_in_use() -> int:
    """What counts against the quota: documents not purged (the trash too) and live, unexpired intents."""
    stored = Document.objects.exclude(status=Document.Status.PURGED).aggregate(total=Sum("size"))["total"] or 0
    pending = (
        UploadIntent.objects.filter(status__in=LIVE, expires_at__gt=Now()).aggregate(total=Sum("size"))["total"] or 0
    )
    return int(stored) + int(pending)


def live_keys(candidates: list[str]) -> set[str]:
    """Those of these tmp/ keys that belong to an intent that may still become a document."""
    return set(
        UploadIntent.objects.filter(storage_key__in=candidates, status__in=LIVE).values_list("storage_key", flat=True)
    )


def cleanup_runs() -> QuerySet[CleanupRun]:
    return CleanupRun.objects.all()
