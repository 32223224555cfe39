"""Reads of webhook endpoints and deliveries. All must run inside tenant_scope."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_of_current_tenant() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("id")


def endpoint_or_none(endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(pk=endpoint_id).first()


def enabled_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(enabled=True).order_by("id"))


def deliveries_of_endpoint(endpoint_id: int, *, status: str | None = None) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    return deliveries.filter(status=status) if status else deliveries


def deliveries_of_event(event_id: str, event_created_at: datetime, endpoint_ids: list[int]) -> list[WebhookDelivery]:
    """The event's deliveries; `event_created_at` (the partition key) confines the read to one partition."""
    return list(
        WebhookDelivery.objects.filter(
            event_id=event_id, event_created_at=event_created_at, endpoint_id__in=endpoint_ids
        ).order_by("id")
    )
