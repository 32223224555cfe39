from __future__ import annotations

import uuid
from datetime import date

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ballast.tenants.models import TenantOwned


class OutboxEvent(TenantOwned):
    """A domain event, written in the transaction of the change it describes; relayed at least once.

    The table is range-partitioned by month on created_at (outbox/partitions.py); its real primary key is
    (id, created_at, tenant_id). Retention drops whole partitions, never DELETEs.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after OUTBOX_MAX_ATTEMPTS: no longer holds back its aggregate

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4)
    event_type = models.CharField(max_length=100)
    actor = models.CharField(max_length=200)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)
    payload = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    causation_id = models.CharField(max_length=64, blank=True, default="")
    traceparent = models.CharField(max_length=55, blank=True, default="")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="outbox_tenant_created"),
            models.Index(fields=["event_id"], name="outbox_event_id"),
            models.Index(fields=["tenant", "correlation_id"], name="outbox_tenant_correlation"),
            # The relay's: retries by their time; and each tenant's pending events in id order.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="outbox_pending"),
            models.Index(fields=["tenant", "id"], condition=Q(status="pending"), name="outbox_pending_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


# Idempotency keys, one limit end to end (docs/deadlines-and-retention.md). A client's Idempotency-Key is stored as
# sent in IdempotencyRecord.key and, under a prefix of at most KEY_PREFIX_ROOM characters ("api:"), in
# jobs_job.idempotency_key; both columns are KEY_COLUMN_LENGTH wide. A longer key is refused with a 400.
KEY_COLUMN_LENGTH = 255
KEY_PREFIX_ROOM = 4
MAX_CLIENT_KEY_LENGTH = KEY_COLUMN_LENGTH - KEY_PREFIX_ROOM  # 251


def utc_today() -> date:
    return timezone.now().date()


class IdempotencyRecord(TenantOwned):
    """One Idempotency-Key of one credential: the request's fingerprint and, once done, its response.

    The table is range-partitioned by `day` (the UTC day of created_at; outbox/partitions.py); its real
    primary key is (id, day), and the database keeps a key unique per day. At most one record of a key is live
    (expires_at in the future) across days: api.idempotency inserts under an advisory lock on the key and only
    when none is. Retention drops whole days, never DELETEs.
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"

    token_id = models.BigIntegerField()
    key = models.CharField(max_length=KEY_COLUMN_LENGTH)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_FLIGHT)
    lock_token = models.UUIDField(default=uuid.uuid4)
    locked_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    day = models.DateField(default=utc_today)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "token_id", "key", "day"], name="idempotency_unique_key_per_credential"
            )
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.status}"
