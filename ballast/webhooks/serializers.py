from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ballast.api.serializers import StrictSerializer
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint
from ballast.webhooks.services import EVENT_TYPE_PATTERN
from ballast.webhooks.ssrf import MAX_URL_LENGTH

MAX_EVENT_TYPES = 50


@extend_schema_field({"type": "string", "maxLength": 200, "pattern": EVENT_TYPE_PATTERN.pattern})
class EventTypeField(serializers.CharField):
    """An event type or pattern (checked by validate_event_types, which names every bad one)."""


class WebhookEndpointWriteSerializer(StrictSerializer):
    """POST and PUT: every field (missing ones take their defaults); PATCH (partial): the fields given."""

    url = serializers.CharField(
        max_length=MAX_URL_LENGTH,
        trim_whitespace=False,
        help_text="http(s), resolving to public addresses only (400 under `url` otherwise).",
    )
    description = serializers.CharField(max_length=200, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=EventTypeField(max_length=200),
        max_length=MAX_EVENT_TYPES,
        default=list,
        help_text="'*', an exact type such as 'job.succeeded', or a prefix such as 'job.*'.",
    )
    enabled = serializers.BooleanField(default=True)

    def validate_event_types(self, value: list[str]) -> list[str]:
        bad = [pattern for pattern in value if not EVENT_TYPE_PATTERN.match(pattern)]
        if bad:
            raise serializers.ValidationError(
                f"Not an event type or pattern: {', '.join(map(repr, bad))}. "
                "Use '*', an exact type such as 'job.succeeded', or a prefix such as 'job.*'."
            )
        return list(dict.fromkeys(value))


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    """Never the secret."""

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "failing_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The creation response, the only one that shows the secret."""

    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="whsec_…: shown once; store it now. null in an idempotent replay (Idempotent-Replayed: true).",
    )
    secret_redacted = serializers.BooleanField(
        read_only=True,
        help_text="true in an idempotent replay: the secret is never stored for replay. Lost it? Delete the "
        "endpoint and create it again.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret", "secret_redacted"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "webhook_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_status",
            "response_excerpt",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields


def created_data(endpoint: WebhookEndpoint, secret: str | None) -> dict[str, Any]:
    """The creation response; with secret=None, what an idempotent replay of it shows."""
    return {**WebhookEndpointSerializer(endpoint).data, "secret": secret, "secret_redacted": secret is None}
