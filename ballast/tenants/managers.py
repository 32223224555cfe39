"""Tenant-scoped managers: they filter by the current tenant and fail closed without one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.db import models

from ballast.tenants.context import require_tenant_id

if TYPE_CHECKING:
    from ballast.tenants.models import TenantOwned

_M = TypeVar("_M", bound="TenantOwned")

SYSTEM_DB_ALIAS = "system"


class TenantScopedManager(models.Manager[_M], Generic[_M]):
    """`Model.objects`: only the current tenant's rows; raises TenantContextError outside tenant_scope."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(tenant_id=require_tenant_id())

    def create(self, **kwargs: Any) -> _M:
        if "tenant" not in kwargs:
            kwargs.setdefault("tenant_id", require_tenant_id())
        return super().get_queryset().create(**kwargs)

    def unscoped(self, using: str = SYSTEM_DB_ALIAS) -> models.QuerySet[_M]:
        """Every tenant's rows, through the BYPASSRLS system alias. For system code only: grep for it."""
        return super().get_queryset().using(using)
