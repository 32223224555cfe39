"""Django admin for tenancy. Operators cross tenants, so tenant-owned models go through the system alias.

Rules every admin here follows:
- lookups (`?field__startswith=`) on secret fields are refused, along any relation path, so a staff user
  with a view permission cannot read a secret one character at a time;
- writes of tenants, memberships and tokens go through tenants.services, which audit them with the staff
  user as actor; a token's tenant, membership and revocation are never edited in a form.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ballast.tenants import services
from ballast.tenants.audit import actor_for_user
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import ApiToken, AuditEntry, Membership, OperatorAction, Role, Tenant

SYSTEM = "system"


class SystemAliasAdmin(admin.ModelAdmin[Model]):
    """Reads and writes through the BYPASSRLS system alias (Django's multi-database admin pattern).

    `secret_fields` name fields no lookup may touch; they are checked on every model along a lookup's path
    (each model's own admin declares its secrets)."""

    secret_fields: tuple[str, ...] = ()

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

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        model: Any = self.model
        for part in lookup.split(LOOKUP_SEP):
            model_admin = self.admin_site._registry.get(model)
            if part in getattr(model_admin, "secret_fields", ()):
                return False
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                break
            if field.related_model is None:
                break
            model = field.related_model
        return super().lookup_allowed(lookup, value, request)


class ReadOnlySystemAdmin(SystemAliasAdmin):
    """For records that change only through services (and the audit log, which never changes). Every field is
    shown read-only, so no form field is built: a form field for a relation to a tenant-owned model would query
    through its tenant-scoped manager, outside any tenant."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _adopt(obj: Model, saved: Model) -> None:
    """Make the admin's unsaved instance the row a service wrote (the admin logs and redirects with it)."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = SYSTEM


@admin.register(Tenant)
class TenantAdmin(SystemAliasAdmin):
    list_display = ["slug", "name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    actions = ["suspend", "resume"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["slug", "created_at"] if obj is not None else ["status", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # purging a tenant is an explicit command, never a click

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = actor_for_user(request.user)
        if not change:
            _adopt(obj, services.create_tenant(slug=obj.slug, name=obj.name, actor=actor))
            return
        if "name" in form.changed_data:
            services.rename_tenant(tenant=obj, name=obj.name, actor=actor)
        if "status" in form.changed_data:
            services.set_tenant_status(tenant=obj, status=Tenant.Status(obj.status), actor=actor)

    @admin.action(description="Suspend the selected tenants", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> TemplateResponse | None:
        """A page that names the tenants first; only its confirmation (`post`) suspends them."""
        tenants = list(queryset.order_by("slug"))
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Suspend these tenants?",
                "tenants": tenants,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "active": [t for t in tenants if t.is_active],
            }
            return TemplateResponse(request, "admin/tenants/tenant/suspend_confirmation.html", context)
        suspended = [
            tenant.slug
            for tenant in tenants
            if services.change_tenant_status(
                tenant=tenant, status=Tenant.Status.SUSPENDED, actor=actor_for_user(request.user)
            )
        ]
        self.message_user(request, f"Suspended: {', '.join(suspended) or 'none (already suspended)'}.")
        return None

    @admin.action(description="Resume the selected tenants", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.set_tenant_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=actor_for_user(request.user))


class TenantOwnedForm(forms.ModelForm[Any]):
    """A form of a tenant-owned row validates inside its tenant's scope: the model's unique constraints query
    through the tenant-scoped manager (and the app role's row-level security)."""

    def _post_clean(self) -> None:
        tenant = self.cleaned_data.get("tenant") if hasattr(self, "cleaned_data") else None
        tenant_id = tenant.pk if tenant is not None else self.instance.tenant_id
        if tenant_id is None:
            super()._post_clean()  # type: ignore[misc]
            return
        with tenant_scope(tenant_id):
            super()._post_clean()  # type: ignore[misc]


@admin.register(Membership)
class MembershipAdmin(SystemAliasAdmin):
    form = TenantOwnedForm
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username", "tenant__slug"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["tenant", "user", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = services.ensure_membership(
            tenant=obj.tenant, user=obj.user, role=Role(obj.role), actor=actor_for_user(request.user)
        )
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.remove_membership(membership=obj, actor=actor_for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for membership in queryset:
            services.remove_membership(membership=membership, actor=actor_for_user(request.user))


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlySystemAdmin):
    """Read-only: tokens are issued by `manage.py token_create` (the secret is shown once) and revoked here
    with the "Revoke" action or through the API. Tenant, membership and revocation never change in a form."""

    list_display = ["__str__", "name", "tenant", "membership", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant"]
    readonly_fields = ("prefix", "name", "tenant", "membership", "created_at", "last_used_at", "revoked_at")
    fields = readonly_fields  # never a form field: no write path, and no tenant-scoped choice list to build
    secret_fields = ("key_hash",)
    actions = ["revoke"]

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("tenants.change_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset)
        for token in tokens:
            services.revoke_token(token=token, actor=actor_for_user(request.user))
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlySystemAdmin):  # append-only: the database refuses changes anyway
    list_display = ["at", "tenant", "actor", "action", "target_type", "target_id", "trace_id"]
    list_filter = ["tenant", "action", "target_type"]
    search_fields = ["target_id", "trace_id", "actor"]
    date_hierarchy = "at"


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlySystemAdmin):
    """The operator log: every operator action, across tenants."""

    list_display = ["at", "actor", "action", "target_type", "target_id", "tenant_id", "trace_id"]
    list_filter = ["action", "actor"]
    search_fields = ["target_id", "trace_id"]
