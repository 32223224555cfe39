"""Browse the outbox; operators may forget an idempotency key (delete its record: audited, like the command)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ballast.outbox.idempotency_records import invalidate
from ballast.outbox.models import IdempotencyRecord, OutboxEvent
from ballast.tenants.admin import ReadOnlySystemAdmin, SystemAliasAdmin
from ballast.tenants.audit import actor_for_user


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
    # The stored response (and the request's digest) may hold what a client saw once: no lookups on them.
    secret_fields = ("response_body", "response_headers", "fingerprint")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        invalidate(tenant_id=obj.tenant_id, key=obj.key, token_id=obj.token_id, actor=actor_for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
