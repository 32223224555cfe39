"""HTTPS, cookies, proxies and the keys of secrets at rest. Production is strict by default."""

from __future__ import annotations

from ballast.settings.environment import IS_PROD, env

__all__ = [
    "CSRF_COOKIE_SECURE",
    "FIELD_ENCRYPTION_KEYS",
    "HEALTH_TOKEN",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_REFERRER_POLICY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SECURE",
    "TLS_TERMINATED_BY_PROXY",
    "TRUSTED_PROXY",
    "X_FRAME_OPTIONS",
]

# true only when a proxy in front of every web process sets X-Forwarded-Proto and strips the client's own, and
# appends the client's address to X-Forwarded-For: otherwise a client could claim HTTPS, or any address (the
# throttles count callers without a token by address, ballast/settings/drf.py NUM_PROXIES), by sending the headers.
TRUSTED_PROXY: bool = env.bool("TRUSTED_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY else None

# true only when the proxy in front (TRUSTED_PROXY) terminates TLS, redirects plain HTTP to HTTPS and sends HSTS
# itself: production then accepts SECURE_SSL_REDIRECT=false and SECURE_HSTS_SECONDS=0 (ballast/lib/settings_safety.py).
TLS_TERMINATED_BY_PROXY: bool = env.bool("TLS_TERMINATED_BY_PROXY", default=False)
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=IS_PROD)
# Orchestrators probe health over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if IS_PROD else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PROD)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=IS_PROD)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = IS_PROD
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = IS_PROD
X_FRAME_OPTIONS = "DENY"

# Fernet keys (urlsafe base64 of 32 bytes), comma-separated, newest first: secrets at rest (webhook signing
# secrets) are encrypted with the first and decrypted with any. Rotation: prepend a new key, run
# `manage.py rotate_encryption_keys`, then drop the old one. Required in prod; dev/ci use a fixed local key.
FIELD_ENCRYPTION_KEYS: list[str] = env.list(
    "FIELD_ENCRYPTION_KEY",
    default=[] if IS_PROD else ["ZGV2LWNpLW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXk="],
)

# /readyz shows each component's error text to staff sessions and to `Authorization: Bearer $HEALTH_TOKEN`;
# everyone else sees ok/fail only. Empty: staff sessions only.
HEALTH_TOKEN: str = env.str("HEALTH_TOKEN", default="")
