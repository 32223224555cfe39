"""Worker presence: each worker process publishes, from its heartbeat, the queues it listens on and the job
types it can run (jobs_workerpresence, on the system alias). A rolling deploy can start a web that enqueues a
type before every worker knows it: such a job waits for a worker that does (jobs.worker.run), and a type no
live worker knows for JOBS_UNKNOWN_TYPE_GRACE_SECONDS raises an alert (ops.alerts, `unknown_type`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from ballast.jobs import sql
from ballast.jobs.registry import registered_types

SYSTEM = "system"


@dataclass(frozen=True)
class Presence:
    identity: str
    queues: tuple[str, ...]

    def publish(self) -> None:
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                sql.PUBLISH_PRESENCE,
                {"identity": self.identity, "queues": list(self.queues), "job_types": registered_types()},
            )

    def withdraw(self) -> None:
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(sql.WITHDRAW_PRESENCE, {"identity": self.identity})


def live_seconds() -> float:
    """A worker not seen for three publishing periods is gone."""
    return 3 * settings.JOBS_PRESENCE_SECONDS


def live_worker_types() -> set[str] | None:
    """Every job type some live worker can run; None when no worker is live (the `no_worker` alert's case)."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(sql.FORGET_GONE_WORKERS)
        cursor.execute(sql.LIVE_WORKER_TYPES, {"live_seconds": live_seconds()})
        types = {row[0] for row in cursor.fetchall()}
    return types or None  # every worker knows some type: none at all means no live worker


@dataclass(frozen=True)
class UnknownType:
    job_type: str
    queued: int
    oldest_seconds: float


def unknown_queued_types() -> list[UnknownType]:
    """Queued job types that no live worker knows, whose jobs wait longer than JOBS_UNKNOWN_TYPE_GRACE_SECONDS."""
    known = live_worker_types()
    if known is None:
        return []
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            sql.UNKNOWN_QUEUED_TYPES,
            {"grace": settings.JOBS_UNKNOWN_TYPE_GRACE_SECONDS, "known": sorted(known)},
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT clock_timestamp()")
        (now,) = cursor.fetchone()
    return [UnknownType(job_type, count, (now - oldest).total_seconds()) for job_type, count, oldest in rows]
