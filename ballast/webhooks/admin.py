"""Browse endpoints and deliveries (read-only: changes go through the API, which vets URLs and audits)."""

from __future__ import annotations

from django.contrib import admin

from ballast.tenants.admin import ReadOnlySystemAdmin
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "tenant", "url", "enabled", "disabled_reason", "consecutive_failures", "failing_since"]
    list_filter = ["tenant", "enabled", "disabled_reason"]
    search_fields = ["=id", "url"]
    exclude = ["secret"]
    secret_fields = ("secret",)
    list_select_related = ["tenant"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "tenant", "endpoint_id", "event_type", "status", "attempts", "response_status", "created_at"]
    list_filter = ["tenant", "status", "event_type"]
    search_fields = ["=id", "event_id", "webhook_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
