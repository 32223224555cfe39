"""The RQ worker class `manage.py rqworker` uses (settings RQ["WORKER_CLASS"]).

A SimpleWorker (no fork per message: pooled connections stay warm; a crash takes the worker down and the
scheduler's rescue takes its job back) that reads messages as JSON only: a pickled payload planted in Redis is
refused without being loaded, so Redis access does not mean code execution on the workers.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from jobs.worker.heartbeat import Heartbeat
from jobs.worker.presence import Presence
from jobs.worker.run import worker_identity

logger = logging.getLogger(__name__)


class BallastWorker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # Warm the connection pools before the first wake-up: the first job's claim is otherwise followed by a
        # connect, which widens the instant between a claim and its handler's start.
        for alias in ("default", "system"):
            connections[alias].ensure_connection()
            connections[alias].close()  # back to the pool, which keeps it open
        # Publish the job types this process can run, from its heartbeat, while it works (jobs.worker.presence).
        presence = Presence(worker_identity(), tuple(self.queue_names()))
        heartbeat = Heartbeat.shared()
        heartbeat.announce(presence)
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            heartbeat.announce(None)
            try:
                presence.withdraw()
            except Exception:  # the row ages out by itself (jobs.worker.presence.live_seconds)
                logger.warning("could not withdraw this worker's presence", exc_info=True)
            connections.close_all()
