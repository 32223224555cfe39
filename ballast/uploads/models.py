"""Upload intents, documents and cleanup runs: all tenant-owned, under row-level security."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from ballast.tenants.models import TenantOwned
from ballast.uploads import keys


class Document(TenantOwned):
    """A verified file in storage (`t/<tenant>/docs/<uuid>`). Purging deletes the object and keeps this row."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        TRASHED = "trashed"
        PURGED = "purged"  # a tombstone: the object is gone (object_deleted_at says when that was confirmed)

    uuid = models.UUIDField(default=uuid.uuid4)
    name = models.CharField(max_length=255)  # the client's file name: metadata, never a path
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, default="")  # of the bytes storage held at finalize, hex
    storage_key = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.CharField(max_length=200)
    # The upload's correlation id: every event about this document carries it.
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    trashed_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    object_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "storage_key"], name="document_unique_key_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "uuid"], name="document_unique_uuid_per_tenant"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-id"], name="document_tenant_status"),
            # The retention sweep: trashed long enough, or purged with the object not yet confirmed gone.
            models.Index(fields=["tenant", "trashed_at"], condition=Q(status="trashed"), name="document_trashed"),
            models.Index(
                fields=["tenant", "purged_at"],
                condition=Q(status="purged", object_deleted_at__isnull=True),
                name="document_purge_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"document {self.pk} {self.name!r} ({self.status})"


class UploadIntent(TenantOwned):
    """One upload, from its declaration to the document it became (or to its cleanup).

    pending → uploaded → finalized; pending/uploaded → expired or failed; expired/failed/pending/uploaded →
    cleaned (the cleanup job deleted its objects). Every move writes an audit row.
    """

    class Kind(models.TextChoices):
        DIRECT = "direct"  # straight to storage under a signed policy
        RELAY = "relay"  # streamed through the app (PUT .../content)

    class Status(models.TextChoices):
        PENDING = "pending"
        UPLOADED = "uploaded"
        FINALIZED = "finalized"
        EXPIRED = "expired"
        FAILED = "failed"
        CLEANED = "cleaned"

    uuid = models.UUIDField(default=uuid.uuid4)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, default="")  # declared by the client, hex
    storage_key = models.CharField(max_length=300)  # t/<tenant>/tmp/<uuid>
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.CharField(max_length=200)
    trace_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    # What the relay received (bytes and their SHA-256, hex); empty for direct uploads.
    received_bytes = models.BigIntegerField(null=True, blank=True)
    received_sha256 = models.CharField(max_length=64, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    cleaned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "storage_key"], name="uploadintent_unique_key_per_tenant"),
            models.UniqueConstraint(fields=["tenant", "uuid"], name="uploadintent_unique_uuid_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant", "document"],
                condition=Q(document__isnull=False),
                name="uploadintent_one_per_document",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-id"], name="uploadintent_tenant_status"),
            models.Index(
                fields=["tenant", "expires_at"],
                condition=Q(status__in=["pending", "uploaded", "expired", "failed"]),
                name="uploadintent_open_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"upload {self.pk} {self.filename!r} ({self.status})"

    @property
    def docs_key(self) -> str:
        """Where the object goes once finalized: the same uuid under docs/ (so a retried finalize finds it)."""
        return keys.docs_key(self.tenant_id, self.uuid)


class CleanupRun(TenantOwned):
    """What one cleanup pass did, for operators (and the console) to read back."""

    class Kind(models.TextChoices):
        INTENTS = "intents"  # expired intents and orphaned tmp/ objects
        TRASH = "trash"  # documents in the trash past retention

    class Trigger(models.TextChoices):
        JOB = "job"
        COMMAND = "command"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    job_id = models.BigIntegerField(null=True, blank=True)  # the job that ran it (no foreign key: jobs churn)
    dry_run = models.BooleanField(default=False)
    intents_cleaned = models.PositiveIntegerField(default=0)
    orphans_deleted = models.PositiveIntegerField(default=0)
    documents_purged = models.PositiveIntegerField(default=0)
    objects_deleted = models.PositiveIntegerField(default=0)
    bytes_freed = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"key" or "id": ..., "error": "..."}]
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "-started_at"], name="cleanuprun_tenant_started")]

    def __str__(self) -> str:
        return f"cleanup {self.kind} {self.started_at:%Y-%m-%d %H:%M} ({len(self.errors)} errors)"
