"""The scheduler's own worker: it runs the jobs of the `maintenance-owner` queue (periodic tasks declared
`requires_owner`: VACUUM, partition DDL, retention drops), which need the owner's DSN that workers never hold.

A service of the leader (jobs.scheduler.loop), in a thread of its own: it claims and runs the platform
tenant's due jobs of that queue with the workers' own code (jobs.worker.run.run_pair: a lease, a heartbeat,
fenced acknowledgements), so a leader killed mid-job loses only that attempt, which the next leader's rescue
takes back and runs again. No RQ wake-up is ever sent for the queue (jobs.policy: served by the scheduler):
it is polled every JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS, and woken at once when the enqueuer adds a job.
"""

from __future__ import annotations

import threading

from django.db import connections

from ballast.jobs.scheduler.periodic import OWNER_QUEUE, platform_tenant_id
from ballast.jobs.worker.run import run_pair, worker_identity


def run_owner_jobs(stop: threading.Event, *, woken: threading.Event) -> int:
    """Run due owner jobs until none is due or `stop`; the number run."""
    woken.clear()
    tenant_id = platform_tenant_id()
    worker = f"scheduler:{worker_identity()}"
    ran = 0
    while not stop.is_set():
        report = run_pair(OWNER_QUEUE, tenant_id, worker=worker)
        ran += report.claimed
        if not report.claimed:
            break
    connections.close_all()
    return ran
