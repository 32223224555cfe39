"""The environment, read once. APP_ENV is required; dev/ci get local defaults; prod gets none for secrets or DSNs."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

APP_ENVS = ("dev", "ci", "prod")
# Written by scripts/services.sh: the app and system DSNs, and (apart) the schema owner's DSN.
SERVICES_ENV_FILE = BASE_DIR / "var" / "services.env"
OWNER_ENV_FILE = BASE_DIR / "var" / "owner.env"

env = environ.Env()
# Real environment variables win over .env, which wins over what scripts/services.sh recorded.
environ.Env.read_env(BASE_DIR / ".env")
APP_ENV: str = env.str("APP_ENV", default="")
if not APP_ENV:
    # Failing closed: guessing "dev" would run DEBUG on with a known SECRET_KEY wherever the variable was forgotten.
    raise environ.ImproperlyConfigured(
        "APP_ENV is not set: set APP_ENV=dev, ci or prod (make, the Procfile's scripts and the test suite set it)."
    )
if APP_ENV not in APP_ENVS:
    raise environ.ImproperlyConfigured(f"APP_ENV must be one of {', '.join(APP_ENVS)}, not {APP_ENV!r}")
IS_PROD = APP_ENV == "prod"
if not IS_PROD:
    environ.Env.read_env(SERVICES_ENV_FILE)
if APP_ENV == "ci":
    # The test suite creates, migrates and empties its databases as the owner. In dev, only the processes
    # started through scripts/with-owner.sh (migrate, the scheduler) get the owner's DSN.
    environ.Env.read_env(OWNER_ENV_FILE)


def local_default(value: object) -> object:
    """A default for dev and ci only: in prod the variable must be set."""
    return environ.Env.NOTSET if IS_PROD else value
