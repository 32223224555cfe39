"""Django admin for tenancy. Operators cross tenants, so tenant-owned models go through the system alias."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from tenants.models import ApiToken, AuditEntry, Membership, Tenant

SYSTEM = "system"


class SystemAliasAdmin(admin.ModelAdmin[Model]):
    """Reads and writes through the BYPASSRLS system alias (Django's multi-database admin pattern)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.model._base_manager.using(SYSTEM).all()

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        obj.save(using=SYSTEM)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        obj.delete(using=SYSTEM)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        queryset.using(SYSTEM).delete()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("queryset", db_field.related_model._base_manager.using(SYSTEM).all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlySystemAdmin(SystemAliasAdmin):
    """For records that change only through services (and the audit log, which never changes)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(SystemAliasAdmin):
    list_display = ["slug", "name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]


@admin.register(Membership)
class MembershipAdmin(SystemAliasAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username", "tenant__slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(SystemAliasAdmin):
    list_display = ["__str__", "name", "tenant", "membership", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued by `manage.py token_create`, which shows the secret once


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlySystemAdmin):  # append-only: the database refuses changes anyway
    list_display = ["at", "tenant", "actor", "action", "target_type", "target_id", "trace_id"]
    list_filter = ["tenant", "action", "target_type"]
    search_fields = ["target_id", "trace_id", "actor"]
    date_hierarchy = "at"
