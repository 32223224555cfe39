"""manage.py and Python processes under a chosen environment (production settings included), for start-up tests."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.utils import get_random_secret_key

# What a production deployment must set; each test changes one thing. Drawn per run: a value committed here would
# be a well-known one.
PROD_SECRET_KEY = get_random_secret_key()
PROD_FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
_INHERITED_PREFIXES = (
    "POSTGRES_",
    "SECRET_KEY",
    "REDIS_",
    "DEBUG",
    "APP_ENV",
    "FIELD_ENCRYPTION",
    "JOBS_",
    "WEBHOOK_",
    "METRICS_TOKEN",
    "HEALTH_TOKEN",
    "QUEUE_PROCESS_SECRET",
    "CSRF_",
    "SECURE_",
    "TLS_",
    "TRUSTED_PROXY",
)


def dsn(alias: str, *, user_of: str | None = None) -> str:
    """The test database's DSN of `alias`, logging in as the role of `user_of` (default: the alias's own)."""
    db = settings.DATABASES[alias]
    login = settings.DATABASES[user_of or alias]
    return f"postgres://{login['USER']}:{login['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def prod_env(**overrides: str | None) -> dict[str, str]:
    """A safe production environment on the test database (no owner DSN: web and worker run without it).
    An override of None removes the variable."""
    env = {
        "APP_ENV": "prod",
        "SECRET_KEY": PROD_SECRET_KEY,
        "ALLOWED_HOSTS": "ballast.example.com",
        "POSTGRES_DSN": dsn("default"),
        "POSTGRES_SYSTEM_DSN": dsn("system"),
        "REDIS_DSN": settings.REDIS_DSN,
        "FIELD_ENCRYPTION_KEY": PROD_FIELD_ENCRYPTION_KEY,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(args: list[str], env: dict[str, str], *, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`python <args>` in the repository with exactly this environment on top of a clean one."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run(["manage.py", *args], env, timeout=timeout)
