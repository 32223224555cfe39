"""Browse endpoints and deliveries (read-only: changes go through the API, which vets URLs and audits)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tenants.admin import SystemAliasAdmin
from webhooks.models import WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(SystemAliasAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["id", "tenant", "url", "enabled", "disabled_reason", "consecutive_failures", "failing_since"]
    list_filter = ["tenant", "enabled", "disabled_reason"]
    search_fields = ["=id", "url"]
    exclude = ["secret"]
    list_select_related = ["tenant"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "tenant", "endpoint_id", "event_type", "status", "attempts", "response_status", "created_at"]
    list_filter = ["tenant", "status", "event_type"]
    search_fields = ["=id", "event_id", "webhook_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
