"""Webhook deliveries (webhooks app)."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = [
    "WEBHOOK_ALLOWED_PORTS",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
    "WEBHOOK_MAX_ENDPOINTS_PER_TENANT",
    "WEBHOOK_TIMEOUT_SECONDS",
]


def allowed_ports(values: list[str]) -> list[int] | None:
    """WEBHOOK_ALLOWED_PORTS: port numbers, or "*" for any port (None)."""
    from django.core.exceptions import ImproperlyConfigured

    cleaned = [value.strip() for value in values if value.strip()]
    if cleaned == ["*"]:
        return None
    ports = []
    for value in cleaned:
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_PORTS must list ports (1-65535) or be '*', not {value!r}")
        ports.append(int(value))
    if not ports:
        raise ImproperlyConfigured("WEBHOOK_ALLOWED_PORTS lists no port: leave it unset for 80,443, or say '*'")
    return ports


# Lifts the SSRF guard (private, loopback, link-local ... addresses) for dev and tests; refused in prod (safety.py).
WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# The ports a destination may use (both at creation and before every delivery); "*" allows any.
WEBHOOK_ALLOWED_PORTS: list[int] | None = allowed_ports(env.list("WEBHOOK_ALLOWED_PORTS", default=["80", "443"]))
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# Each endpoint multiplies every event of its tenant: a bound keeps one tenant from making Ballast an amplifier.
WEBHOOK_MAX_ENDPOINTS_PER_TENANT: int = env.int("WEBHOOK_MAX_ENDPOINTS_PER_TENANT", default=20)
