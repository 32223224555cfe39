"""Production refuses to start with a dangerous configuration.

These are the rules settings alone can decide; the database roles' attributes are checked against the
server at start-up (ballast.tenants.db_roles.role_problems, a system check and the WSGI entry point) and by
`manage.py preflight`.
"""

from __future__ import annotations

import binascii
from typing import Any

from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 50
MIN_QUEUE_PROCESS_SECRET_LENGTH = 32


def _weak_secret(value: str, min_length: int) -> bool:
    return len(value) < min_length or "insecure" in value or len(set(value)) < 5


def _invalid_fernet_keys(keys: list[str]) -> bool:
    from cryptography.fernet import Fernet

    try:
        for key in keys:
            Fernet(key)
    except (ValueError, binascii.Error):
        return True
    return False


def configuration_problems(settings: dict[str, Any]) -> list[str]:
    """What is dangerous about these settings when APP_ENV=prod (empty elsewhere)."""
    if settings["APP_ENV"] != "prod":
        return []
    problems = []
    if settings["DEBUG"]:
        problems.append("DEBUG must be false")
    if _weak_secret(settings["SECRET_KEY"], MIN_SECRET_KEY_LENGTH):
        problems.append(f"SECRET_KEY must be a long random value ({MIN_SECRET_KEY_LENGTH}+ characters)")
    if "*" in settings["ALLOWED_HOSTS"] or not settings["ALLOWED_HOSTS"]:
        problems.append("ALLOWED_HOSTS must list the real host names, not '*'")
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
    queue_secret = settings.get("QUEUE_PROCESS_SECRET", "")
    if queue_secret and _weak_secret(queue_secret, MIN_QUEUE_PROCESS_SECRET_LENGTH):
        problems.append(
            f"QUEUE_PROCESS_SECRET must be a long random value ({MIN_QUEUE_PROCESS_SECRET_LENGTH}+ characters) "
            "when set; leave it empty to turn secret mode off"
        )
    return problems


def assert_safe_configuration(settings: dict[str, Any]) -> None:
    problems = configuration_problems(settings)
    if problems:
        raise ImproperlyConfigured("Refusing to start with APP_ENV=prod: " + "; ".join(problems))
