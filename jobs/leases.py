"""Leases: heart-beating running jobs, fenced checkpoints, and taking back what dead workers held.

Bookkeeping here runs on the system alias in autocommit, on its own connection, so that it is
committed at once and is independent of the handler's (still open) business transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

from django.conf import settings
from django.db import connections

from jobs.claims import load_json

logger = logging.getLogger(__name__)

SYSTEM = "system"


class LeaseLost(Exception):
    """This attempt no longer holds the job: its writes are refused."""


def extend_leases(held: dict[int, uuid.UUID]) -> set[int]:
    """Push the lease of each held job forward; the ids still held (the others were taken back)."""
    if not held:
        return set()
    ids = list(held)
    tokens = [held[job_id] for job_id in ids]
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job j SET lease_expires_at = now() + make_interval(secs => %s) "
            "FROM unnest(%s::bigint[], %s::uuid[]) AS h(id, token) "
            "WHERE j.id = h.id AND j.lease_token = h.token AND j.status = 'running' RETURNING j.id",
            [settings.JOBS_LEASE_SECONDS, ids, tokens],
        )
        return {row[0] for row in cursor.fetchall()}


def save_checkpoint(tenant_id: int, job_id: int, attempt: int, fence: uuid.UUID, state: Any) -> int:
    """Append a checkpoint if this attempt still holds the lease; its sequence number."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_checkpoint (tenant_id, job_id, sequence, attempt, state, created_at) "
            "SELECT j.tenant_id, j.id, COALESCE((SELECT max(c.sequence) FROM jobs_checkpoint c "
            "  WHERE c.tenant_id = j.tenant_id AND c.job_id = j.id), 0) + 1, %s, %s::jsonb, now() "
            "FROM jobs_job j WHERE j.id = %s AND j.tenant_id = %s AND j.lease_token = %s AND j.status = 'running' "
            "RETURNING sequence",
            [attempt, json.dumps(state), job_id, tenant_id, fence],
        )
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost(f"Job {job_id} attempt {attempt} lost its lease; checkpoint refused")
    return int(row[0])


def last_checkpoint(job_id: int) -> Any:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT state FROM jobs_checkpoint WHERE job_id = %s ORDER BY sequence DESC LIMIT 1", [job_id])
        row = cursor.fetchone()
    return None if row is None else load_json(row[0])


def cancel_requested(job_id: int) -> bool:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT cancel_requested FROM jobs_job WHERE id = %s", [job_id])
        row = cursor.fetchone()
    return bool(row and row[0])


class LeaseKeeper:
    """A thread that extends the leases of a worker's claimed jobs until they are released."""

    def __init__(self, held: dict[int, uuid.UUID], interval: float | None = None) -> None:
        self._held = dict(held)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval or max(0.2, settings.JOBS_LEASE_SECONDS / 3)
        self._thread = threading.Thread(target=self._run, name="ballast-lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def release(self, job_ids: list[int]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._held.pop(job_id, None)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                with self._lock:
                    held = dict(self._held)
                try:
                    kept = extend_leases(held)
                except Exception:  # a blip must not kill the thread; the lease has slack
                    logger.exception("lease heartbeat failed")
                    continue
                # A lease taken back stays taken: stop extending it (the attempt's writes are fenced anyway).
                self.release(list(set(held) - kept))
        finally:
            connections[SYSTEM].close()
