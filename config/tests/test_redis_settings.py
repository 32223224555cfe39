"""REDIS_SENTINELS switches every Redis client Ballast makes (and django-rq's dashboard) to Sentinel."""

from __future__ import annotations

import json

from config.tests.processes import prod_env, run

PROBE = """
import json, django
django.setup()
from django.conf import settings
from ballast.lib import redis_client
pool = redis_client.client().connection_pool
print(json.dumps({
    "rq": {key: settings.RQ_QUEUES["default"].get(key) for key in ("URL", "SENTINELS", "MASTER_NAME", "DB")},
    "pool": type(pool).__name__,
    "service": getattr(pool, "service_name", None),
    "db": pool.connection_kwargs.get("db"),
    "describe": redis_client.describe(),
}))
"""


def _settings(**env: str) -> dict:
    result = run(["-c", PROBE], prod_env(DJANGO_SETTINGS_MODULE="config.settings", **env))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sentinels_in_the_settings_make_every_client_ask_them_for_the_primary() -> None:
    seen = _settings(
        REDIS_DSN="redis://ignored-host:1/4",
        REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26380",
        REDIS_SENTINEL_MASTER="ballast",
    )

    assert seen["rq"] == {
        "URL": None,
        "SENTINELS": [["10.0.0.1", 26379], ["10.0.0.2", 26380]],
        "MASTER_NAME": "ballast",
        "DB": 4,
    }
    assert (seen["pool"], seen["service"], seen["db"]) == ("SentinelConnectionPool", "ballast", 4)
    assert seen["describe"] == "Sentinel master 'ballast' (sentinels 10.0.0.1:26379,10.0.0.2:26380)"


def test_without_sentinels_the_clients_dial_redis_dsn() -> None:
    seen = _settings(REDIS_DSN="redis://10.0.0.9:6390/2")

    assert seen["rq"]["URL"].startswith("redis://10.0.0.9:6390/2?") and seen["rq"]["SENTINELS"] is None
    assert (seen["pool"], seen["db"], seen["describe"]) == ("ConnectionPool", 2, "10.0.0.9:6390")
