"""django-rq: Redis carries wake-ups ("queue Q of tenant T has due work"); Postgres holds the truth."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ballast.settings.environment import env
from ballast.settings.redis import REDIS_DSN, REDIS_SENTINEL_MASTER, REDIS_SENTINELS

__all__ = ["REDIS_CONNECT_TIMEOUT", "REDIS_SOCKET_TIMEOUT", "RQ", "RQ_QUEUES", "RQ_SHOW_ADMIN_LINK"]

# A hung or partitioned Redis must not stall a web request or a scheduler pass: every client gets socket and
# connect timeouts unless the DSN sets its own. (RQ's workers raise the socket timeout above their blocking
# dequeue by themselves.)
REDIS_SOCKET_TIMEOUT: float = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)
REDIS_CONNECT_TIMEOUT: float = env.float("REDIS_CONNECT_TIMEOUT", default=2.0)


def _with_timeouts(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(REDIS_SOCKET_TIMEOUT))
    query.setdefault("socket_connect_timeout", str(REDIS_CONNECT_TIMEOUT))
    query.setdefault("health_check_interval", "30")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _connection() -> dict[str, Any]:
    """django-rq's view of the same Redis (its dashboard); Ballast's own clients come from ballast.lib.redis_client."""
    if not REDIS_SENTINELS:
        return {"URL": _with_timeouts(REDIS_DSN)}
    parts = urlsplit(REDIS_DSN)
    return {
        "SENTINELS": REDIS_SENTINELS,
        "MASTER_NAME": REDIS_SENTINEL_MASTER,
        "DB": int(parts.path.strip("/") or 0),
        "PASSWORD": unquote(parts.password) if parts.password else None,
        "USERNAME": unquote(parts.username) if parts.username else None,
        "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        "CONNECTION_KWARGS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT},
        "SENTINEL_KWARGS": {"socket_timeout": REDIS_CONNECT_TIMEOUT, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT},
    }


# Workers listen in this order: maintenance first, then default, email, webhooks (jobs/policy.py).
RQ_QUEUE_NAMES = ("maintenance", "default", "email", "webhooks")
RQ_QUEUES = {
    name: {**_connection(), "DEFAULT_TIMEOUT": 600, "SERIALIZER": "rq.serializers.JSONSerializer"}
    for name in RQ_QUEUE_NAMES
}
# A SimpleWorker that reads JSON messages only and runs nothing but the wake-up entry point (jobs/worker/rq.py).
RQ = {"WORKER_CLASS": "ballast.jobs.worker.rq.BallastWorker", "JOB_CLASS": "ballast.jobs.worker.rq.WakeupJob"}
# django-rq's dashboard stays out of the admin: RQ carries only wake-ups, whose counts the queue console shows
# ("Wake-ups", /admin/ops/queue/); the jobs themselves are in Postgres (/admin/ops/jobs/).
RQ_SHOW_ADMIN_LINK = False
