from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ballast.tenants.models import TenantOwned


class DeliveryStatus(models.TextChoices):
    """pending → sending → sent | failed | unknown (the full machine is in emails/transitions.py)."""

    PENDING = "pending"  # not (yet) accepted by the server; the job will try
    SENDING = "sending"  # an attempt is talking to the server; recorded (committed) before it connects
    SENT = "sent"  # the server accepted it: never sent again
    FAILED = "failed"  # the server refused it for good (5xx), or the job ran out of attempts
    UNKNOWN = "unknown"  # an attempt ended without learning whether the server accepted it


class EmailDelivery(TenantOwned):
    """One email and the truth about its delivery. Its Message-ID is fixed at creation and sent by every attempt.

    Created by emails.services.send_email; its status, attempts and errors are written only through
    emails.transitions (committed at once on the system alias, so they survive a failed attempt).

    Range-partitioned by month on created_at (real primary key (id, created_at)); retention drops whole months
    (lifecycle), never one holding a delivery whose job is still running. A unique key must hold the partition
    column, so the per-tenant key is kept unique by send_email (an advisory lock per (tenant, key), then a look
    across every retained partition): unique within the retention window.
    """

    # NULL, not '': only deliveries that have a key are looked up by it (emails.services.send_email).
    key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    message_id = models.CharField(max_length=255)
    from_email = models.CharField(max_length=500)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=998, blank=True, default="")
    body = models.TextField(blank=True, default="")
    # What kind of e-mail this is (a dotted name the sender chooses, "message" when it says none), the object it
    # is about (free type and id, as the audit log's targets) and the sender's metadata (a JSON object).
    # Defaults in the database too: rows written by SQL (and by code that predates the columns) get them.
    email_type = models.CharField(max_length=100, default="message", db_default="message")
    related_type = models.CharField(max_length=100, blank=True, default="", db_default="")
    related_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    metadata = models.JSONField(default=dict, db_default=models.Value({}, output_field=models.JSONField()), blank=True)
    # sha256 of the caller's content (recipients, subject, body): a key reused for other content is refused.
    payload_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    # The email.send job (not a foreign key: job retention must not reach into deliveries).
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    # Not a column: send_email() says whether this call created the delivery or found it by key.
    created: bool = False

    class Meta:
        constraints = [
            # Message-IDs are made of a random UUID (emails.services.new_message_id), so they are unique by
            # construction; this key (which must hold the partition column) is the database's net under that.
            models.UniqueConstraint(
                fields=["tenant", "message_id", "created_at"], name="emaildelivery_unique_message_id"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="emaildelivery_tenant_status"),
            models.Index(fields=["tenant", "created_at"], name="emaildelivery_tenant_created"),
            # GET /api/v1/emails?type=: newest first (by id) within a type.
            models.Index(fields=["tenant", "email_type", "id"], name="emaildelivery_tenant_type"),
            # Deliveries about one object (related_type, related_id).
            models.Index(
                fields=["tenant", "related_type", "related_id"],
                condition=~Q(related_type=""),
                name="emaildelivery_related",
            ),
            # The sweep for deliveries abandoned in `sending` (emails.maintenance).
            models.Index(fields=["job_id"], condition=Q(status="sending"), name="emaildelivery_sending"),
            # send_email looks a key up in every partition (under its advisory lock) before it inserts.
            models.Index(fields=["tenant", "key"], condition=Q(key__isnull=False), name="emaildelivery_key"),
            # Retention keeps a month while a delivery in it may still be sent (ballast.lib.partitioned_tables).
            models.Index(
                fields=["job_id"],
                condition=Q(status__in=["pending", "sending", "unknown"]),
                name="emaildelivery_unfinished",
            ),
        ]
        verbose_name_plural = "email deliveries"

    def __str__(self) -> str:
        return f"email {self.pk} {self.message_id} ({self.status})"
