"""The scheduler process: one leader at a time (a Postgres advisory lock), the others wait to take over.

Each pass: reap expired leases, dispatch (see jobs.dispatch), run due maintenance. The outbox relay
runs in a thread of its own (outbox.relay).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

from jobs import dispatch, maintenance
from jobs.recovery import reap_expired_leases
from outbox.relay import run_relay
from tenants.db_roles import dedicated_connection

logger = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6A6F6273  # "jobs"


class LeaderLock:
    """A session-level advisory lock on a connection of its own: held while the process lives,
    released by Postgres the moment the process or its connection dies."""

    def __init__(self) -> None:
        self._connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        return dedicated_connection("system", "ballast-scheduler-leader")

    def acquire(self) -> bool:
        """True while this process is the leader. Call every pass: it also notices a lost connection."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            if self.held:
                self._connection.execute("SELECT 1")
                return True
            row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]).fetchone()
            self.held = bool(row and row[0])
            return self.held
        except psycopg.Error:
            logger.warning("leader connection lost; standing down")
            self.release()
            return False

    held = False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
        self.held = False


def run_pass() -> dict[str, Any]:
    reaped = reap_expired_leases()
    report = dispatch.dispatch_pass()
    ran = maintenance.run_due()
    return {
        "reaped": reaped.total,
        "pushed": report.pushed_jobs,
        "messages": report.messages,
        "redispatched": report.redispatched,
        "promoted": report.promoted,
        "redis_reset": report.redis_reset,
        "maintenance": ran,
    }


def run_scheduler(stop: threading.Event, *, interval: float | None = None) -> None:
    interval = interval if interval is not None else settings.JOBS_SCHEDULER_INTERVAL_MS / 1000
    lock = LeaderLock()
    leading = False
    # The outbox relay runs beside the passes, in every scheduler process: relays are safe side by side.
    relay = threading.Thread(target=run_relay, args=(stop,), name="ballast-outbox-relay", daemon=True)
    relay.start()
    try:
        while not stop.is_set():
            if not lock.acquire():
                if leading:
                    logger.warning("no longer the leader")
                leading = False
                stop.wait(1.0)
                continue
            if not leading:
                logger.info("became the scheduler leader")
                leading = True
            started = time.monotonic()
            try:
                summary = run_pass()
                if summary["reaped"] or summary["redispatched"] or summary["redis_reset"]:
                    logger.info("scheduler pass: %s", summary)
            except Exception:
                logger.exception("scheduler pass failed")
            finally:
                connections.close_all()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        lock.release()
        relay.join(timeout=10)
