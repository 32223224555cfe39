"""Production refuses to start with a dangerous configuration.

These are the rules settings alone can decide; the database roles' attributes are checked against the
server at start-up (ballast.tenants.db_roles.role_problems, a system check and the WSGI entry point) and by
`manage.py preflight`.

A secret (SECRET_KEY, QUEUE_PROCESS_SECRET, METRICS_TOKEN, HEALTH_TOKEN) is refused when it is shorter than its
minimum, says it is insecure, is a value committed in this repository, is mostly a repeated pattern (fewer than
three quarters of its 3-character windows distinct), or when its estimated entropy is under a floor. The estimate
is the Shannon entropy of the value's own character frequencies times its length: it scores a patterned value too
high rather than too low, so a value under the floor is weak whatever its true source. `abcde` x 10 scores 116
bits (SECRET_KEY's floor is 128); a key from `django.core.management.utils.get_random_secret_key` about 240;
32 random hex digits about 115 and never under 90 in 20,000 draws (the tokens' floor is 80).
"""

from __future__ import annotations

import binascii
import math
from collections import Counter
from typing import Any

from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_BITS = 128
MIN_TOKEN_LENGTH = 32
MIN_TOKEN_BITS = 80

# The dev and ci defaults (config/settings/base.py, ballast/settings/security.py): public, so never a secret.
COMMITTED_SECRETS = frozenset(
    {
        "dev-insecure-secret-key-not-for-production",
        "ZGV2LWNpLW9ubHktZmllbGQtZW5jcnlwdGlvbi1rZXk=",
    }
)


def estimated_entropy_bits(value: str) -> float:
    """Length times the Shannon entropy of the value's character frequencies."""
    length = len(value)
    return -sum(count * math.log2(count / length) for count in Counter(value).values())


def _repetitive(value: str) -> bool:
    windows = [value[i : i + 3] for i in range(len(value) - 2)]
    return bool(windows) and len(set(windows)) * 4 < len(windows) * 3


def secret_weakness(value: str, *, min_length: int, min_bits: int) -> str | None:
    """Why `value` is no secret, or None."""
    if value in COMMITTED_SECRETS:
        return "it is the development value committed in the repository"
    if len(value) < min_length:
        return f"it has {len(value)} characters, fewer than {min_length}"
    if "insecure" in value:
        return "it says it is insecure"
    if _repetitive(value):
        return "it is a repeated pattern"
    bits = estimated_entropy_bits(value)
    if bits < min_bits:
        return f"its estimated entropy is {bits:.0f} bits, under {min_bits}"
    return None


def _invalid_fernet_keys(keys: list[str]) -> bool:
    from cryptography.fernet import Fernet

    try:
        for key in keys:
            Fernet(key)
    except (ValueError, binascii.Error):
        return True
    return False


def _wildcard_origin(origin: str) -> bool:
    """`*`, `http://*`, `https://*.com`: any site. `https://*.example.com` (subdomains of one domain) is not."""
    host = origin.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if "*" not in host:
        return False
    rest = host[2:]
    return not (host.startswith("*.") and "*" not in rest and "." in rest)


def _tls_problems(settings: dict[str, Any]) -> list[str]:
    if settings.get("TLS_TERMINATED_BY_PROXY"):
        if not settings.get("SECURE_PROXY_SSL_HEADER"):
            return [
                "TLS_TERMINATED_BY_PROXY=true needs TRUSTED_PROXY=true (SECURE_PROXY_SSL_HEADER), or Django cannot "
                "tell HTTPS requests from plain ones"
            ]
        return []
    problems = []
    if not settings.get("SECURE_SSL_REDIRECT"):
        problems.append(
            "SECURE_SSL_REDIRECT must be true (or set TLS_TERMINATED_BY_PROXY=true with TRUSTED_PROXY=true when "
            "the proxy in front redirects to HTTPS and sends HSTS)"
        )
    if int(settings.get("SECURE_HSTS_SECONDS") or 0) <= 0:
        problems.append(
            "SECURE_HSTS_SECONDS must be positive (or set TLS_TERMINATED_BY_PROXY=true with TRUSTED_PROXY=true "
            "when the proxy in front redirects to HTTPS and sends HSTS)"
        )
    return problems


def configuration_problems(settings: dict[str, Any]) -> list[str]:
    """What is dangerous about these settings when APP_ENV=prod (empty elsewhere)."""
    if settings["APP_ENV"] != "prod":
        return []
    problems = []
    if settings["DEBUG"]:
        problems.append("DEBUG must be false")
    weakness = secret_weakness(settings["SECRET_KEY"], min_length=MIN_SECRET_KEY_LENGTH, min_bits=MIN_SECRET_KEY_BITS)
    if weakness:
        problems.append(f"SECRET_KEY must be a long random value ({MIN_SECRET_KEY_LENGTH}+ characters): {weakness}")
    if "*" in settings["ALLOWED_HOSTS"] or not settings["ALLOWED_HOSTS"]:
        problems.append("ALLOWED_HOSTS must list the real host names, not '*'")
    wildcards = [origin for origin in settings.get("CSRF_TRUSTED_ORIGINS") or [] if _wildcard_origin(origin)]
    if wildcards:
        problems.append(f"CSRF_TRUSTED_ORIGINS must name real origins, not wildcards: {', '.join(wildcards)}")
    users = {alias: db.get("USER") for alias, db in settings["DATABASES"].items()}
    if len(set(users.values())) != len(users):
        problems.append(
            f"POSTGRES_DSN, POSTGRES_SYSTEM_DSN and POSTGRES_OWNER_DSN must use three distinct roles: {users}"
        )
    if users.get("default") in {"postgres", users.get("owner")}:
        problems.append("POSTGRES_DSN must use the app role, not a superuser or the schema owner")
    if settings.get("WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        problems.append("WEBHOOK_ALLOW_PRIVATE_NETWORKS must be false")
    if settings.get("JOBS_DIAGNOSTICS"):
        problems.append("JOBS_DIAGNOSTICS must be false (diagnostic job types are for dev and tests)")
    keys = settings.get("FIELD_ENCRYPTION_KEYS") or []
    if not keys:
        problems.append("FIELD_ENCRYPTION_KEY is required (Fernet keys for secrets at rest)")
    elif _invalid_fernet_keys(keys):
        problems.append("FIELD_ENCRYPTION_KEY must be Fernet keys (urlsafe base64 of 32 bytes), comma-separated")
    elif any(key in COMMITTED_SECRETS for key in keys):
        problems.append(
            "FIELD_ENCRYPTION_KEY must not be the development key committed in the repository: generate one "
            "(.env.example says how)"
        )
    for name in ("QUEUE_PROCESS_SECRET", "METRICS_TOKEN", "HEALTH_TOKEN"):
        value = settings.get(name) or ""
        weakness = value and secret_weakness(value, min_length=MIN_TOKEN_LENGTH, min_bits=MIN_TOKEN_BITS)
        if weakness:
            problems.append(
                f"{name} must be a long random value ({MIN_TOKEN_LENGTH}+ characters) when set: {weakness}; "
                "leave it empty to turn it off"
            )
    problems += _tls_problems(settings)
    return problems


def assert_safe_configuration(settings: dict[str, Any]) -> None:
    problems = configuration_problems(settings)
    if problems:
        raise ImproperlyConfigured("Refusing to start with APP_ENV=prod: " + "; ".join(problems))
