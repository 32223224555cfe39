"""Reads of the emails app. Tenant-scoped: they must run inside tenant_scope."""

from __future__ import annotations

from django.db.models import QuerySet

from ballast.emails.models import EmailDelivery


def deliveries(*, status: str | None = None) -> QuerySet[EmailDelivery]:
    """The current tenant's deliveries, newest first."""
    queryset = EmailDelivery.objects.order_by("-created_at", "-pk")
    return queryset.filter(status=status) if status else queryset


def get_delivery(*, delivery_id: int) -> EmailDelivery:
    """One of the current tenant's deliveries; EmailDelivery.DoesNotExist for another tenant's."""
    return EmailDelivery.objects.get(pk=delivery_id)
