from __future__ import annotations

from django.db import models

from tenants.encryption import EncryptedTextField
from tenants.models import TenantOwned


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
    on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending"  # the next attempt is scheduled (next_attempt_at)
        SUCCEEDED = "succeeded"  # a 2xx answer
        FAILED = "failed"  # schedule exhausted, 410 Gone, or the endpoint was disabled for failing
        CANCELLED = "cancelled"  # the endpoint was disabled before this delivery finished

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=200)
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
            # A redelivered event finds its delivery instead of making a second one.
            models.UniqueConstraint(
                fields=["tenant", "endpoint", "event_id"], name="webhookdelivery_unique_event_per_endpoint"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "endpoint", "-id"], name="webhookdelivery_newest")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_type} {self.event_id} ({self.status})"
