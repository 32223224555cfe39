"""The API's view of an e-mail delivery: its description and delivery state, never its body (a body may hold a
link that acts for its recipient, and a viewer token reads this)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ballast.api.serializers import JSONObjectField
from ballast.emails.models import EmailDelivery


class RelatedSerializer(serializers.Serializer[dict[str, str]]):
    type = serializers.CharField(help_text="The kind of object the e-mail is about, as its sender named it.")
    id = serializers.CharField(help_text="That object's id, as text.")


class EmailDeliverySerializer(serializers.ModelSerializer[EmailDelivery]):
    type = serializers.CharField(source="email_type", help_text="A dotted name the sender chose; `message` by default.")
    related = serializers.SerializerMethodField(help_text="The object the e-mail is about, or null.")
    metadata = JSONObjectField(help_text="The sender's metadata (a JSON object).")
    to = serializers.ListField(source="recipients", child=serializers.EmailField())

    class Meta:
        model = EmailDelivery
        fields = [
            "id",
            "type",
            "related",
            "metadata",
            "key",
            "message_id",
            "to",
            "subject",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "last_attempt_at",
            "sent_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RelatedSerializer(allow_null=True))
    def get_related(self, delivery: EmailDelivery) -> dict[str, Any] | None:
        if not delivery.related_type:
            return None
        return {"type": delivery.related_type, "id": delivery.related_id}
