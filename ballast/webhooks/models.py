from __future__ import annotations

from django.db import models
from django.db.models import Q

from ballast.lib.encryption import EncryptedTextField
from ballast.tenants.models import TenantOwned


class WebhookEndpoint(TenantOwned):
    """A tenant's receiver of events. The secret signs every delivery; it is shown once, on creation."""

    class DisabledReason(models.TextChoices):
        NONE = "", "enabled"
        MANUAL = "manual"  # through the API
        GONE = "gone"  # the receiver answered 410 Gone
        FAILING = "failing"  # every attempt failed for 5 days (webhooks.health.FAILING_WINDOW)

    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True, default="")
    # Standard Webhooks format: whsec_<base64 of 32 random bytes>. HMAC needs it in clear, so it is encrypted
    # (FIELD_ENCRYPTION_KEY), not hashed: the database holds a Fernet token only.
    secret = EncryptedTextField()
    # Empty or ["*"]: every event; "job.succeeded": that type; "job.*": every type starting with "job.".
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # The current streak of failed attempts; failing_since is its first failure (NULL: healthy).
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "enabled"], name="webhookendpoint_enabled")]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class WebhookDelivery(TenantOwned):
    """One event for one endpoint. `body` holds the exact bytes sent, and `webhook_id` the id signed,
    on every attempt.

    Range-partitioned by month on `event_created_at`, the event's own creation time (real primary key
    (id, event_created_at)); retention drops whole months (lifecycle), never one holding a pending delivery.
    An event id has one creation time, so (tenant, endpoint, event id, event_created_at) is unique exactly as
    (tenant, endpoint, event id) was, and a redelivered event lands in the same partition as its delivery.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # the next attempt is scheduled (next_attempt_at)
        SUCCEEDED = "succeeded"  # a 2xx answer
        FAILED = "failed"  # schedule exhausted, 410 Gone, or the endpoint was disabled for failing
        CANCELLED = "cancelled"  # the endpoint was disabled before this delivery finished

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=200)
    # The outbox event's created_at (the partition key): a redelivery of the event carries the same value.
    event_created_at = models.DateTimeField()
    webhook_id = models.CharField(max_length=210)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")  # at most RESPONSE_EXCERPT_BYTES of the body
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A redelivered event finds its delivery instead of making a second one (fan_out's ON CONFLICT). The
            # partition key is in it, as Postgres requires; an event id has one event_created_at.
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "event_id", "event_created_at"],
                name="webhookdelivery_unique_event_per_endpoint",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "endpoint", "-id"], name="webhookdelivery_newest"),
            # Retention keeps a month while it holds a pending delivery (partitioned_tables.py): found by this index.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhookdelivery_pending"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_type} {self.event_id} ({self.status})"
