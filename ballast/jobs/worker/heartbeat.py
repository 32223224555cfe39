"""The heartbeat: two threads per worker process that keep what the worker holds alive.

A worker process runs one job at a time, or one in each of its JOBS_WORKER_CONCURRENCY threads (jobs.worker.rq);
each running thread tells the one heartbeat what it holds (`start_job`, `hold_baton`), keyed by the thread:

- the lease thread extends each running job's lease every JOBS_LEASE_SECONDS / 3 on a connection of its own
  (the system alias, autocommit). The UPDATE touches only that job's row, which no other transaction holds
  while the handler runs, so a heartbeat never waits on another job's handler. It touches only Postgres;
- the baton thread refreshes each wake-up baton's key in Redis, and passes a baton on for a job running
  longer than JOBS_HANDOFF_SECONDS, so that other workers take the rest of its queue instead of waiting
  behind it. A Redis that is down or hung stalls or fails only this thread: the lease is still extended
  and the job completes in Postgres;
- the lease thread also publishes the worker's presence (jobs.worker.presence) every JOBS_PRESENCE_SECONDS, once
  the worker has set it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connections

from ballast.jobs import sql
from ballast.jobs.wakeups import Baton
from ballast.jobs.worker.presence import Presence
from ballast.lib import metrics

logger = logging.getLogger(__name__)

SYSTEM = "system"
TICK_SECONDS = 0.05


def extend_lease(job_id: int, token: uuid.UUID, *, release: bool = False, retention_at: datetime | None = None) -> bool:
    """Push the lease forward; False when it was taken back. `release`: hand the connection back to the pool
    afterwards (the heartbeat thread holds none between beats)."""
    try:
        with connections[SYSTEM].cursor() as cursor:
            cursor.execute(
                sql.EXTEND_LEASE,
                {"job_id": job_id, "token": token, "lease": settings.JOBS_LEASE_SECONDS, "retention_at": retention_at},
            )
            return cursor.fetchone() is not None
    finally:
        if release:
            connections[SYSTEM].close()


@dataclass
class _Running:
    job_id: int
    token: uuid.UUID
    started: float
    next_extend: float
    retention_at: datetime | None = None
    lost: bool = False


@dataclass
class _Held:
    """What one thread holds: its running job and its (queue, tenant)'s baton."""

    running: _Running | None = None
    baton: Baton | None = None
    baton_refresh: float = 0.0

    def empty(self) -> bool:
        return self.running is None and self.baton is None


class Heartbeat:
    """Started once per process (`Heartbeat.shared()`); the worker tells it what it holds."""

    _shared: Heartbeat | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, _Held] = {}  # by thread (threading.get_ident())
        self._presence: Presence | None = None
        self._next_presence = 0.0
        self._thread = threading.Thread(target=self._run, name="ballast-heartbeat", daemon=True)
        self._baton_thread = threading.Thread(target=self._run_baton, name="ballast-baton", daemon=True)
        self._thread.start()
        self._baton_thread.start()

    @classmethod
    def shared(cls) -> Heartbeat:
        with cls._shared_lock:
            shared = cls._shared
            if shared is None or not (shared._thread.is_alive() and shared._baton_thread.is_alive()):
                shared = cls._shared = Heartbeat()
            return shared

    def _update(self, **changes: object) -> None:
        """Change what the calling thread holds."""
        thread = threading.get_ident()
        with self._lock:
            held = self._held.get(thread) or _Held()
            for name, value in changes.items():
                setattr(held, name, value)
            if held.empty():
                self._held.pop(thread, None)
            else:
                self._held[thread] = held

    def hold_baton(self, baton: Baton | None) -> None:
        """The calling thread holds `baton` (None: no longer any)."""
        self._update(baton=baton, baton_refresh=time.monotonic() + settings.JOBS_WAKE_TTL_SECONDS / 3)

    def announce(self, presence: Presence | None) -> None:
        """Publish `presence` from now on (None: stop publishing)."""
        with self._lock:
            self._presence = presence
            self._next_presence = 0.0

    def start_job(self, job_id: int, token: uuid.UUID, retention_at: datetime | None = None) -> None:
        """The calling thread runs this job now: its lease is extended until `end_job`."""
        now = time.monotonic()
        self._update(running=_Running(job_id, token, now, now + settings.JOBS_LEASE_SECONDS / 3, retention_at))

    def end_job(self) -> None:
        self._update(running=None)

    def running_jobs(self) -> list[int]:
        with self._lock:
            return [held.running.job_id for held in self._held.values() if held.running is not None]

    def _run(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            try:
                self._lease_tick()
            except Exception:  # a blip must not kill the thread; the lease has slack
                logger.exception("heartbeat failed")
                connections[SYSTEM].close()
            metrics.record_pool_status(every=1.0)

    def _run_baton(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            try:
                self._baton_tick()
            except Exception as exc:  # Redis down or hung: the key expires and the scheduler wakes the pair
                logger.warning("baton refresh failed: %s: %s", type(exc).__name__, exc)

    def _lease_tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [
                held.running
                for held in self._held.values()
                if held.running is not None and not held.running.lost and now >= held.running.next_extend
            ]
        try:
            for running in due:
                running.next_extend = now + settings.JOBS_LEASE_SECONDS / 3
                if not extend_lease(running.job_id, running.token, retention_at=running.retention_at):
                    running.lost = True  # its writes are fenced; stop extending
        finally:
            if due:
                connections[SYSTEM].close()  # back to the pool: the thread holds none between beats
        self._publish_presence(now)

    def _publish_presence(self, now: float) -> None:
        with self._lock:
            presence = self._presence if now >= self._next_presence else None
            if presence is not None:
                self._next_presence = now + settings.JOBS_PRESENCE_SECONDS
        if presence is not None:
            try:
                presence.publish()
            finally:
                connections[SYSTEM].close()

    def _baton_tick(self) -> None:
        now = time.monotonic()
        work: list[tuple[_Running | None, Baton, bool]] = []
        with self._lock:
            for held in self._held.values():
                if held.baton is None:
                    continue
                refresh = now >= held.baton_refresh
                if refresh:
                    held.baton_refresh = now + settings.JOBS_WAKE_TTL_SECONDS / 3
                work.append((held.running, held.baton, refresh))
        for running, baton, refresh in work:
            if baton.passed:
                continue
            if running is not None and not running.lost and now - running.started >= settings.JOBS_HANDOFF_SECONDS:
                baton.pass_on()  # a long job: let another worker take the rest of this queue
            elif refresh:
                baton.refresh()
