"""Redis: where it is (REDIS_DSN, or Sentinel), and how long a request may wait for it (ballast.lib.redis_client)."""

from __future__ import annotations

from ballast.settings.environment import APP_ENV, env, local_default

__all__ = [
    "REDIS_DSN",
    "REDIS_FAIL_OPEN_SECONDS",
    "REDIS_REQUEST_TIMEOUT",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
]

# Wake-ups, rate limits and throttles live here (never data: nothing Ballast loads from Redis is code). dev and ci
# default to a local server (ci on database 1, so a test run leaves dev's wake-ups alone); prod must set it.
REDIS_DSN: str = env.str(
    "REDIS_DSN",
    default=local_default(
        f"redis://127.0.0.1:{env.str('BALLAST_REDIS_PORT', default='6379')}/{1 if APP_ENV == 'ci' else 0}"
    ),
)

# Sentinel: "host:port,host:port" and the monitored master's name. When set, every client asks the sentinels
# for the current primary (REDIS_DSN then only gives the database number, user and password).
REDIS_SENTINELS: list[tuple[str, int]] = [
    (address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])) for address in env.list("REDIS_SENTINELS", default=[])
]
REDIS_SENTINEL_MASTER: str = env.str("REDIS_SENTINEL_MASTER", default="mymaster")

# What a web request touches in Redis on its way (throttle, idempotency counts, the after-commit wake-up) waits
# at most this long (seconds), and after a failure skips Redis for REDIS_FAIL_OPEN_SECONDS (fails open).
REDIS_REQUEST_TIMEOUT: float = env.float("REDIS_REQUEST_TIMEOUT", default=0.25)
REDIS_FAIL_OPEN_SECONDS: float = env.float("REDIS_FAIL_OPEN_SECONDS", default=2.0)
