"""django-rq: Redis carries wake-ups ("queue Q of tenant T has due work"); Postgres holds the truth."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ballast.settings.environment import env
from ballast.settings.redis import REDIS_DSN, REDIS_SENTINEL_MASTER, REDIS_SENTINELS

__all__ = [
    "JOBS_RQ_QUEUE_NAMES",
    "REDIS_CONNECT_TIMEOUT",
    "REDIS_SOCKET_TIMEOUT",
    "RQ",
    "RQ_QUEUES",
    "RQ_SHOW_ADMIN_LINK",
]

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


# Ballast's queues that carry wake-ups through RQ, in the order workers listen to them (jobs/policy.py).
RQ_QUEUE_NAMES = ("maintenance", "default", "email", "webhooks")
_RQ_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def rq_queue_names(values: dict[str, str]) -> dict[str, str]:
    """JOBS_RQ_QUEUE_NAMES, e.g. "default=acme-jobs,email=acme-mail": the name each queue has in Redis. A queue
    left out keeps its own name; Postgres, the API, the consoles and `rqworker`'s arguments use Ballast's names."""
    from django.core.exceptions import ImproperlyConfigured

    unknown = sorted(set(values) - set(RQ_QUEUE_NAMES))
    if unknown:
        raise ImproperlyConfigured(
            f"JOBS_RQ_QUEUE_NAMES names {', '.join(map(repr, unknown))}, not a queue of the workers' "
            f"({', '.join(RQ_QUEUE_NAMES)})"
        )
    names = {queue: values.get(queue, queue).strip() for queue in RQ_QUEUE_NAMES}
    for queue, name in names.items():
        if not _RQ_NAME.fullmatch(name):
            raise ImproperlyConfigured(
                f"JOBS_RQ_QUEUE_NAMES gives {queue!r} the name {name!r}: use letters, digits, '.', '_' and '-' "
                "(at most 100, starting with a letter or digit)"
            )
    taken = [f"{queue!r}'s ({name!r})" for queue, name in names.items() if name != queue and name in RQ_QUEUE_NAMES]
    if taken:
        raise ImproperlyConfigured(f"JOBS_RQ_QUEUE_NAMES gives a queue another queue's own name: {taken[0]}")
    shared = sorted(name for name, count in Counter(names.values()).items() if count > 1)
    if shared:
        raise ImproperlyConfigured(f"JOBS_RQ_QUEUE_NAMES gives two queues the same name {shared[0]!r}")
    return names


JOBS_RQ_QUEUE_NAMES: dict[str, str] = rq_queue_names(env.dict("JOBS_RQ_QUEUE_NAMES", default={}))
# django-rq knows the queues by their names in Redis.
RQ_QUEUES = {
    name: {**_connection(), "DEFAULT_TIMEOUT": 600, "SERIALIZER": "rq.serializers.JSONSerializer"}
    for name in JOBS_RQ_QUEUE_NAMES.values()
}
# A SimpleWorker that reads JSON messages only and runs nothing but the wake-up entry point (jobs/worker/rq.py).
RQ = {"WORKER_CLASS": "ballast.jobs.worker.rq.BallastWorker", "JOB_CLASS": "ballast.jobs.worker.rq.WakeupJob"}
# django-rq's dashboard stays out of the admin: RQ carries only wake-ups, whose counts the queue console shows
# ("Wake-ups", /admin/ops/queue/); the jobs themselves are in Postgres (/admin/ops/jobs/).
RQ_SHOW_ADMIN_LINK = False
