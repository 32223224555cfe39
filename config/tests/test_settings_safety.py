"""Production refuses to start with a dangerous configuration, and has no defaults for secrets."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

from config.settings.safety import configuration_problems

SAFE_PROD = {
    "APP_ENV": "prod",
    "DEBUG": False,
    "SECRET_KEY": "k" + "".join(chr(65 + i % 26) for i in range(60)),
    "ALLOWED_HOSTS": ["ballast.example.com"],
    "DATABASES": {"default": {"USER": "app"}, "system": {"USER": "sys"}, "owner": {"USER": "own"}},
}


def test_a_safe_production_configuration_has_no_problems() -> None:
    assert configuration_problems(SAFE_PROD) == []


def test_each_dangerous_production_setting_is_named() -> None:
    dangerous = {
        **SAFE_PROD,
        "DEBUG": True,
        "SECRET_KEY": "short",
        "ALLOWED_HOSTS": ["*"],
        "DATABASES": {"default": {"USER": "own"}, "system": {"USER": "sys"}, "owner": {"USER": "own"}},
    }

    problems = " | ".join(configuration_problems(dangerous))

    for expected in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "three distinct roles", "app role"):
        assert expected in problems


def test_dev_and_ci_are_not_held_to_production_rules() -> None:
    assert configuration_problems({**SAFE_PROD, "APP_ENV": "ci", "DEBUG": True, "SECRET_KEY": "x"}) == []


def _manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "SECRET_KEY", "REDIS_", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_prod_without_a_secret_key_refuses_to_start() -> None:
    result = _manage_check({"APP_ENV": "prod"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_prod_with_debug_on_refuses_to_start() -> None:
    result = _manage_check(
        {
            "APP_ENV": "prod",
            "DEBUG": "true",
            "SECRET_KEY": str(SAFE_PROD["SECRET_KEY"]),
            "ALLOWED_HOSTS": "ballast.example.com",
            "POSTGRES_DSN": "postgres://app:x@db/ballast",
            "POSTGRES_SYSTEM_DSN": "postgres://sys:x@db/ballast",
            "POSTGRES_OWNER_DSN": "postgres://own:x@db/ballast",
            "REDIS_DSN": "redis://cache:6379/0",
        }
    )

    assert result.returncode != 0
    assert "Refusing to start with APP_ENV=prod: DEBUG must be false" in result.stderr


def test_an_unknown_app_env_is_refused() -> None:
    result = _manage_check({"APP_ENV": "staging"})

    assert result.returncode != 0
    assert "APP_ENV must be one of dev, ci, prod" in result.stderr
