"""Webhook deliveries (webhooks app)."""

from __future__ import annotations

from config.settings.env import IS_PROD, env

__all__ = ["WEBHOOK_ALLOW_PRIVATE_NETWORKS", "WEBHOOK_TIMEOUT_SECONDS"]

# Lifts the SSRF guard (private, loopback, link-local ... addresses) for dev and tests; refused in prod.
WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
if IS_PROD and WEBHOOK_ALLOW_PRIVATE_NETWORKS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Refusing to start with APP_ENV=prod: WEBHOOK_ALLOW_PRIVATE_NETWORKS must be false")
