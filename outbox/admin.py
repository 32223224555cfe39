"""Browse the outbox; operators may forget an idempotency key (delete its record)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from outbox.models import IdempotencyRecord, OutboxEvent
from tenants.admin import ReadOnlySystemAdmin, SystemAliasAdmin


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlySystemAdmin):  # retention drops partitions; nothing is deleted here
    list_display = ["id", "tenant", "event_type", "target_type", "target_id", "status", "attempts", "created_at"]
    list_filter = ["tenant", "event_type", "status"]
    search_fields = ["=event_id", "=correlation_id", "target_id"]
    list_select_related = ["tenant"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(SystemAliasAdmin):
    list_display = ["key", "tenant", "token_id", "method", "path", "status", "response_status", "expires_at"]
    list_filter = ["tenant", "status", "method"]
    search_fields = ["key", "path"]
    exclude = ["response_body"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
