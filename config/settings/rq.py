"""django-rq: Redis carries "run job X now" messages; Postgres holds the truth."""

from __future__ import annotations

from config.settings.base import REDIS_DSN

__all__ = ["RQ", "RQ_QUEUES"]

# Workers listen in this order: maintenance first, then default, then email.
RQ_QUEUE_NAMES = ("maintenance", "default", "email")
RQ_QUEUES = {name: {"URL": REDIS_DSN, "DEFAULT_TIMEOUT": 600} for name in RQ_QUEUE_NAMES}
RQ = {"WORKER_CLASS": "rq.worker.Worker"}
