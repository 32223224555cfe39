"""django-rq: Redis carries "run job X now" messages; Postgres holds the truth."""

from __future__ import annotations

from config.settings.base import REDIS_DSN

__all__ = ["RQ", "RQ_QUEUES"]

# Workers listen in this order: maintenance first, then default, email, webhooks (jobs/policy.py).
RQ_QUEUE_NAMES = ("maintenance", "default", "email", "webhooks")
RQ_QUEUES = {name: {"URL": REDIS_DSN, "DEFAULT_TIMEOUT": 600} for name in RQ_QUEUE_NAMES}
# SimpleWorker runs jobs in the worker process: no fork per message, pooled connections stay warm.
# A crash takes the worker down; the scheduler's lease reaper takes its jobs back.
RQ = {"WORKER_CLASS": "rq.worker.SimpleWorker"}
