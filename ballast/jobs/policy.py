"""The central queue policy: queue order, default priorities, attempts, backoff and limits.

Workers listen in QUEUE ORDER (maintenance first). Settings may override per job type:
JOBS_CONCURRENCY = {"email.send": 4}; EMAIL_RATE_PER_MINUTE, EMAIL_RATE_PER_TENANT_PER_MINUTE.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class QueuePolicy:
    name: str
    default_priority: int
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    # "workers": rqworker processes take its wake-ups from RQ. "scheduler": the scheduler's leader polls it
    # (jobs.scheduler.owner_worker); no wake-up is ever sent for it.
    served_by: str = "workers"


QUEUES: dict[str, QueuePolicy] = {
    "maintenance": QueuePolicy("maintenance", default_priority=10, max_attempts=3, backoff_base=5, backoff_cap=300),
    "default": QueuePolicy("default", default_priority=0, max_attempts=5, backoff_base=2, backoff_cap=600),
    # Below the default: a burst of e-mail never delays the work it reports on (and it waits on its rate limits).
    "email": QueuePolicy("email", default_priority=-5, max_attempts=8, backoff_base=10, backoff_cap=3600),
    # Deliveries wait on other people's servers (up to WEBHOOK_TIMEOUT_SECONDS): kept apart from other work.
    "webhooks": QueuePolicy("webhooks", default_priority=0, max_attempts=3, backoff_base=5, backoff_cap=300),
    # Periodic maintenance that needs the owner's DSN (VACUUM, partition DDL), run by the scheduler's leader.
    "maintenance-owner": QueuePolicy(
        "maintenance-owner", default_priority=10, max_attempts=3, backoff_base=5, backoff_cap=300, served_by="scheduler"
    ),
}
# Periodic and operator maintenance that workers run: queue/process's balanced mode starts its jobs first.
MAINTENANCE_QUEUE = "maintenance"
# The RQ queues, in the order workers listen to them.
QUEUE_ORDER = tuple(name for name, queue in QUEUES.items() if queue.served_by == "workers")
SCHEDULER_QUEUES = tuple(name for name, queue in QUEUES.items() if queue.served_by == "scheduler")


def rq_name(queue: str) -> str:
    """The name in Redis of the RQ queue that carries `queue`'s wake-ups (JOBS_RQ_QUEUE_NAMES)."""
    names: dict[str, str] = settings.JOBS_RQ_QUEUE_NAMES
    return names.get(queue, queue)


def queue_named(rq_queue_name: str) -> str | None:
    """Ballast's queue whose wake-ups the RQ queue of this name carries (None: not one of Ballast's)."""
    names: dict[str, str] = settings.JOBS_RQ_QUEUE_NAMES
    return next((queue for queue, name in names.items() if name == rq_queue_name), None)


# The classes of job types queue/process counts against its per-call quotas (emailMax, cleanupMax, auditMax);
# a handler declares its class (`job_class=` on @job_handler), a type without one has no quota but `max`.
JOB_CLASSES = ("email", "cleanup", "audit")
# queue/process's modes and, in `balanced`, the quotas per call when the caller names none (at most 50 each,
# as `max`): e-mail waits on its rate limits anyway; cleanup and audit jobs are the heavy ones.
TRIGGER_MODES = ("balanced", "legacy")
TRIGGER_QUOTA_DEFAULTS = {"email": 10, "cleanup": 2, "audit": 1}
TRIGGER_QUOTA_LIMIT = 50


def concurrency_cap(job_type: str, declared: int | None) -> int | None:
    """At most this many jobs of the type run at once, across all workers (None: unlimited)."""
    configured: dict[str, int] = getattr(settings, "JOBS_CONCURRENCY", {})
    return configured.get(job_type, declared)


@dataclass(frozen=True)
class RateLimit:
    key: str
    per_minute: int


def rate_limits(queue: str, tenant_id: int) -> list[RateLimit]:
    """The limits one job of `queue` for `tenant_id` counts against (shared by all workers, in Redis)."""
    if queue != "email":
        return []
    limits = []
    if settings.EMAIL_RATE_PER_MINUTE:
        limits.append(RateLimit("email:global", settings.EMAIL_RATE_PER_MINUTE))
    if settings.EMAIL_RATE_PER_TENANT_PER_MINUTE:
        limits.append(RateLimit(f"email:tenant:{tenant_id}", settings.EMAIL_RATE_PER_TENANT_PER_MINUTE))
    return limits
