"""Limits on the anonymous surface: the readiness probe, the admin's login, and the Content-Security-Policy."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = [
    "ADMIN_LOGIN_FAILURE_RATE",
    "API_DOCS_CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY",
    "HEALTH_ANONYMOUS_RATE",
    "HEALTH_CACHE_SECONDS",
]

_STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# Anonymous /readyz probes per client address (empty: unthrottled); they reuse the costly checks (migrations,
# roles) this long. A staff session or HEALTH_TOKEN runs every check and is never throttled.
HEALTH_ANONYMOUS_RATE: str = env.str("HEALTH_ANONYMOUS_RATE", default="120/min")
HEALTH_CACHE_SECONDS: float = env.float("HEALTH_CACHE_SECONDS", default=10.0)

# Failed admin logins allowed per client address and per username in a sliding window; beyond, both get 429 until
# the oldest failure leaves it (ballast.api.login_throttle). Empty: unthrottled.
ADMIN_LOGIN_FAILURE_RATE: str = env.str("ADMIN_LOGIN_FAILURE_RATE", default="5/15min")

# Sent on every response (ballast.api.content_security); empty: none. A deployment whose pages reach other origins
# (the uploads demo POSTing straight to an S3 bucket) adds them to connect-src here.
CONTENT_SECURITY_POLICY: str = env.str("CONTENT_SECURITY_POLICY", default=_STRICT)
# /api/docs: Swagger UI sets style attributes from its script, so styles may be inline there (scripts may not).
API_DOCS_CONTENT_SECURITY_POLICY: str = _STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
