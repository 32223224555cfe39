"""The heartbeat: two threads per worker process that keep what the worker holds alive.

- the lease thread extends the running job's lease every JOBS_LEASE_SECONDS / 3 on a connection of its own
  (the system alias, autocommit). The UPDATE touches only that job's row, which no other transaction holds
  while the handler runs, so a heartbeat never waits on another job's handler. It touches only Postgres;
- the baton thread refreshes the wake-up baton's key in Redis, and passes the baton on for a job running
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


class Heartbeat:
    """Started once per process (`Heartbeat.shared()`); the worker tells it what it holds."""

    _shared: Heartbeat | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: _Running | None = None
        self._baton: Baton | None = None
        self._baton_refresh = 0.0
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

    def hold_baton(self, baton: Baton | None) -> None:
        with self._lock:
            self._baton = baton
            self._baton_refresh = time.monotonic() + settings.JOBS_WAKE_TTL_SECONDS / 3

    def announce(self, presence: Presence | None) -> None:
        """Publish `presence` from now on (None: stop publishing)."""
        with self._lock:
            self._presence = presence
            self._next_presence = 0.0

    def start_job(self, job_id: int, token: uuid.UUID, retention_at: datetime | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._running = _Running(job_id, token, now, now + settings.JOBS_LEASE_SECONDS / 3, retention_at)

    def end_job(self) -> None:
        with self._lock:
            self._running = None

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
            running = self._running
        if running is not None and not running.lost and now >= running.next_extend:
            running.next_extend = now + settings.JOBS_LEASE_SECONDS / 3
            if not extend_lease(running.job_id, running.token, release=True, retention_at=running.retention_at):
                running.lost = True  # its writes are fenced; stop extending
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
        with self._lock:
            running, baton = self._running, self._baton
            refresh_baton = baton is not None and now >= self._baton_refresh
            if refresh_baton:
                self._baton_refresh = now + settings.JOBS_WAKE_TTL_SECONDS / 3
        if baton is None or baton.passed:
            return
        if running is not None and not running.lost and now - running.started >= settings.JOBS_HANDOFF_SECONDS:
            baton.pass_on()  # a long job: let another worker take the rest of this queue
        elif refresh_baton:
            baton.refresh()
