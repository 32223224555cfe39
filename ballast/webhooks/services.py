"""Write services of webhooks: endpoints (audited) and the fan-out of events into deliveries."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from ballast.outbox.envelope import to_cloudevent
from ballast.outbox.models import OutboxEvent
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import require_tenant_id, tenant_scope
from ballast.webhooks import selectors, signing, ssrf
from ballast.webhooks.delivery import enqueue_attempt
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint

EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
EVENT_TYPE_PATTERN = re.compile(r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$")
EDITABLE = ("url", "description", "event_types", "enabled")

Reason = WebhookEndpoint.DisabledReason


class WebhookError(ValueError):
    """A webhook operation was refused; the message says why."""


class EndpointLimitReached(WebhookError):
    """The tenant has WEBHOOK_MAX_ENDPOINTS_PER_TENANT endpoints already."""


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, in the creation response


def matches(patterns: list[str], event_type: str) -> bool:
    """Empty or "*": every type; "a.b": exactly that type; "a.*": every type that starts with "a."."""
    if not patterns:
        return True
    return any(
        pattern in ("*", event_type) or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
        for pattern in patterns
    )


def normalise_event_id(event_id: uuid.UUID | str) -> str:
    """A UUID in its canonical form (so UUID and str spellings of one event are one key), else the id as is."""
    text = str(event_id)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not EVENT_ID.match(text):
        raise WebhookError(f"Event id {text!r} must be a UUID or 1 to 200 letters, digits, '_' and '-'")
    return text


def fan_out(
    *,
    tenant_id: int,
    event_id: uuid.UUID | str,
    event_created_at: datetime,
    event_type: str,
    body: dict[str, Any],
) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint of the tenant subscribed to event_type, and its first job.

    Runs in the caller's transaction (the outbox relay's tenant_scope; it joins the scope, and raises for
    another tenant's). Safe to call twice: a redelivered event finds its deliveries (unique per tenant,
    endpoint, event and the event's created_at, which one event always has the same of: INSERT ... ON CONFLICT
    DO NOTHING) and enqueues nothing new. `event_created_at` is the partition key of the deliveries: pass the
    event's own creation time, never the time of this call. Returns the event's deliveries, new and existing.
    """
    key = normalise_event_id(event_id)
    with tenant_scope(tenant_id):
        endpoint_ids = [e.pk for e in selectors.enabled_endpoints() if matches(e.event_types, event_type)]
        if not endpoint_ids:
            return []
        # The exact text every attempt sends (and signs); compact, strict JSON.
        text = json.dumps(body, separators=(",", ":"), allow_nan=False)
        now = timezone.now()
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "INSERT INTO webhooks_webhookdelivery (tenant_id, endpoint_id, event_id, event_created_at, "
                "event_type, webhook_id, body, status, attempts, next_attempt_at, response_excerpt, last_error, "
                "created_at, updated_at) "
                "SELECT %s, endpoint_id, %s, %s, %s, %s, %s, %s, 0, %s, '', '', %s, %s "
                "FROM unnest(%s::bigint[]) AS endpoint_id "
                "ON CONFLICT (tenant_id, endpoint_id, event_id, event_created_at) DO NOTHING RETURNING id",
                [
                    tenant_id,
                    key,
                    event_created_at,
                    event_type,
                    signing.webhook_id(key),
                    text,
                    WebhookDelivery.Status.PENDING,
                    now,
                    now,
                    now,
                    endpoint_ids,
                ],
            )
            created = {row[0] for row in cursor.fetchall()}
        deliveries = selectors.deliveries_of_event(key, event_created_at, endpoint_ids)
        for delivery in deliveries:
            if delivery.pk in created:
                enqueue_attempt(delivery, 1)
        return deliveries


def fan_out_event(event: OutboxEvent) -> None:
    """The outbox sink of webhooks (registered in WebhooksConfig.ready): fan_out, with the event as CloudEvents."""
    fan_out(
        tenant_id=event.tenant_id,
        event_id=event.event_id,
        event_created_at=event.created_at,
        event_type=event.event_type,
        body=to_cloudevent(event),
    )


def _vetted_url(url: str) -> str:
    ssrf.vet_url(url)  # raises UnsafeURL with the reason
    return url


def create_endpoint(
    *,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    enabled: bool = True,
    actor: str = SYSTEM_ACTOR,
) -> CreatedEndpoint:
    """Must run inside tenant_scope. Raises ssrf.UnsafeURL when the URL may not be a target, and
    EndpointLimitReached beyond WEBHOOK_MAX_ENDPOINTS_PER_TENANT (each endpoint multiplies every event)."""
    tenant_id = require_tenant_id()
    url = _vetted_url(url)
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_TENANT
    with connections["default"].cursor() as cursor:
        # Concurrent creations of one tenant count one after the other; released at commit.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('webhooks.endpoint_limit:' || %s, 0))", [tenant_id]
        )
    existing = WebhookEndpoint.objects.count()
    if existing >= limit:
        raise EndpointLimitReached(
            f"This tenant has {existing} webhook endpoints, the most allowed ({limit}); delete one to add another."
        )
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        tenant_id=tenant_id,
        url=url,
        description=description,
        event_types=list(event_types or []),
        enabled=enabled,
        disabled_reason="" if enabled else Reason.MANUAL,
        disabled_at=None if enabled else timezone.now(),
        secret=secret,
    )
    record(
        tenant_id=tenant_id,
        actor=actor,
        action="webhook.endpoint_created",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        data={"url": endpoint.url, "event_types": endpoint.event_types, "enabled": enabled},
    )
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def update_endpoint(
    *, endpoint: WebhookEndpoint, changes: dict[str, Any], actor: str = SYSTEM_ACTOR
) -> WebhookEndpoint:
    """Must run inside tenant_scope. Enabling starts a fresh failure streak; disabling records why (manual).
    Raises ssrf.UnsafeURL for a refused URL."""
    changed = [name for name in EDITABLE if name in changes and changes[name] != getattr(endpoint, name)]
    if "url" in changed:
        _vetted_url(changes["url"])
    for name in changed:
        setattr(endpoint, name, changes[name])
    fields = list(changed)
    if "enabled" in changed:
        if endpoint.enabled:
            endpoint.disabled_reason, endpoint.disabled_at = Reason.NONE, None
            endpoint.consecutive_failures, endpoint.failing_since = 0, None
            fields += ["disabled_reason", "disabled_at", "consecutive_failures", "failing_since"]
        else:
            endpoint.disabled_reason, endpoint.disabled_at = Reason.MANUAL, timezone.now()
            fields += ["disabled_reason", "disabled_at"]
    if not changed:
        return endpoint
    endpoint.save(update_fields=[*fields, "updated_at"])  # only these: health counters are written elsewhere
    record(
        tenant_id=endpoint.tenant_id,
        actor=actor,
        action="webhook.endpoint_updated",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        data={name: changes[name] for name in changed},
    )
    return endpoint


def delete_endpoint(*, endpoint: WebhookEndpoint, actor: str = SYSTEM_ACTOR) -> None:
    """Must run inside tenant_scope. Its deliveries go with it; their pending jobs then find nothing to do."""
    record(
        tenant_id=endpoint.tenant_id,
        actor=actor,
        action="webhook.endpoint_deleted",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        data={"url": endpoint.url},
    )
    endpoint.delete()
