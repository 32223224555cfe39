"""The environment, read once. dev/ci get local defaults; prod gets none for secrets or DSNs."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

APP_ENVS = ("dev", "ci", "prod")

env = environ.Env()
# Real environment variables win over .env, which wins over what scripts/services.sh recorded.
environ.Env.read_env(BASE_DIR / ".env")
APP_ENV: str = env.str("APP_ENV", default="dev")
if APP_ENV not in APP_ENVS:
    raise environ.ImproperlyConfigured(f"APP_ENV must be one of {', '.join(APP_ENVS)}, not {APP_ENV!r}")
IS_PROD = APP_ENV == "prod"
if not IS_PROD:
    environ.Env.read_env(BASE_DIR / "var" / "services.env")


def local_default(value: object) -> object:
    """A default for dev and ci only: in prod the variable must be set."""
    return environ.Env.NOTSET if IS_PROD else value
