"""Preflight checks of the jobs engine: a live worker listens to every queue, and one scheduler leads."""

from __future__ import annotations

from django.db import connections
from rq import Worker

from ballast.jobs.policy import QUEUE_ORDER
from ballast.jobs.wakeups import redis_connection, rq_queue
from ballast.lib.preflight import CheckFailed, preflight_check


@preflight_check("workers", needs_processes=True)
def live_worker_per_queue() -> str:
    """RQ registers each worker in Redis with a TTL its heartbeat renews: a registered worker is alive."""
    redis = redis_connection()
    counts = {name: len(Worker.all(connection=redis, queue=rq_queue(name))) for name in QUEUE_ORDER}
    missing = [name for name, count in counts.items() if count == 0]
    if missing:
        raise CheckFailed(f"no live worker listens to queue(s) {', '.join(missing)}: start `manage.py rqworker`")
    return ", ".join(f"{name}: {count}" for name, count in counts.items())


@preflight_check("scheduler_leader", needs_processes=True)
def one_scheduler_leader() -> str:
    """Leadership is a lease on one row (jobs.scheduler.leader): at most one holder by construction."""
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT holder, elected_at, expires_at > now() FROM jobs_schedulerleader ORDER BY expires_at DESC LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None or not row[2]:
        raise CheckFailed("no scheduler leads: start `manage.py jobs_scheduler` (it takes the lease within a pass)")
    return f"{row[0]}, leading since {row[1]:%Y-%m-%d %H:%M:%S} UTC"
