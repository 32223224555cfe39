"""Reads of the emails app. Tenant-scoped: they must run inside tenant_scope."""

from __future__ import annotations

from django.db.models import QuerySet

from ballast.emails.models import EmailDelivery


def deliveries(*, status: str | None = None, email_type: str | None = None) -> QuerySet[EmailDelivery]:
    """The current tenant's deliveries, newest first, optionally of one status and one type."""
    queryset = EmailDelivery.objects.order_by("-created_at", "-pk")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.filter(email_type=email_type) if email_type else queryset


def delivery_or_none(delivery_id: int) -> EmailDelivery | None:
    return EmailDelivery.objects.filter(pk=delivery_id).first()


def get_delivery(*, delivery_id: int) -> EmailDelivery:
    """One of the current tenant's deliveries; EmailDelivery.DoesNotExist for another tenant's."""
    return EmailDelivery.objects.get(pk=delivery_id)
