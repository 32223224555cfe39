"""Production refuses to start with a dangerous configuration."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


def configuration_problems(settings: dict[str, Any]) -> list[str]:
    """What is dangerous about these settings when APP_ENV=prod (empty elsewhere)."""
    if settings["APP_ENV"] != "prod":
        return []
    problems = []
    if settings["DEBUG"]:
        problems.append("DEBUG must be false")
    secret = settings["SECRET_KEY"]
    if len(secret) < 50 or "insecure" in secret or len(set(secret)) < 5:
        problems.append("SECRET_KEY must be a long random value (50+ characters)")
    if "*" in settings["ALLOWED_HOSTS"] or not settings["ALLOWED_HOSTS"]:
        problems.append("ALLOWED_HOSTS must list the real host names, not '*'")
    users = {alias: db.get("USER") for alias, db in settings["DATABASES"].items()}
    if len(set(users.values())) != len(users):
        problems.append(
            f"POSTGRES_DSN, POSTGRES_SYSTEM_DSN and POSTGRES_OWNER_DSN must use three distinct roles: {users}"
        )
    if users.get("default") in {"postgres", users.get("owner")}:
        problems.append("POSTGRES_DSN must use the app role, not a superuser or the schema owner")
    return problems


def assert_safe_configuration(settings: dict[str, Any]) -> None:
    problems = configuration_problems(settings)
    if problems:
        raise ImproperlyConfigured("Refusing to start with APP_ENV=prod: " + "; ".join(problems))
