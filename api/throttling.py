"""Abuse limits: request rates per API token and per tenant, shared by every web process (Redis cache).

A client over a limit gets 429 with Retry-After (DRF); the idempotency layer does not store a 429, so the
same key may be retried once the window allows. Rates: API_RATE_PER_TOKEN, API_RATE_PER_TENANT,
QUEUE_PROCESS_RATE (e.g. "600/min"); empty disables one.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiToken


class _CredentialThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        from django.conf import settings

        return str(getattr(settings, self.setting, "")) or None

    setting = ""

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        return super().allow_request(request, view)


class TokenRateThrottle(_CredentialThrottle):
    scope = "token"
    setting = "API_RATE_PER_TOKEN"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        return f"ballast:throttle:token:{token.pk}" if isinstance(token, ApiToken) else None


class TenantRateThrottle(_CredentialThrottle):
    scope = "tenant"
    setting = "API_RATE_PER_TENANT"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        return f"ballast:throttle:tenant:{token.tenant_id}" if isinstance(token, ApiToken) else None


class QueueProcessThrottle(_CredentialThrottle):
    """queue/process runs jobs inside a web request: few calls a minute, whoever calls (token or secret)."""

    scope = "queue_process"
    setting = "QUEUE_PROCESS_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        who = f"tenant:{token.tenant_id}" if isinstance(token, ApiToken) else f"ip:{self.get_ident(request)}"
        return f"ballast:throttle:queue_process:{who}"
