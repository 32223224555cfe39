"""The environment Ballast's settings read. APP_ENV (dev, ci or prod) picks the defaults; unset, it is prod, so a
forgotten variable never turns on a development default (DEBUG, diagnostics, a known key)."""

from __future__ import annotations

import environ

env = environ.Env()
APP_ENV: str = env.str("APP_ENV", default="prod")
IS_PROD = APP_ENV == "prod"


def local_default(value: object) -> object:
    """A default for dev and ci only: in prod the variable must be set."""
    return environ.Env.NOTSET if IS_PROD else value
