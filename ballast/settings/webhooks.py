"""Webhook deliveries (webhooks app)."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = ["WEBHOOK_ALLOW_PRIVATE_NETWORKS", "WEBHOOK_MAX_ENDPOINTS_PER_TENANT", "WEBHOOK_TIMEOUT_SECONDS"]

# Lifts the SSRF guard (private, loopback, link-local ... addresses) for dev and tests; refused in prod (safety.py).
WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# Each endpoint multiplies every event of its tenant: a bound keeps one tenant from making Ballast an amplifier.
WEBHOOK_MAX_ENDPOINTS_PER_TENANT: int = env.int("WEBHOOK_MAX_ENDPOINTS_PER_TENANT", default=20)
