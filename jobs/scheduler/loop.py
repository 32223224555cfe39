"""The scheduler process: each pass renews leadership, then the leader rescues expired leases, wakes queues
with due work and runs due periodic tasks. Services that apps register (the outbox relay) run beside the
passes in threads of every scheduler process.

Liveness: leadership is a lease (jobs.scheduler.leader), Redis clients have socket timeouts, and a pass that
overruns JOBS_PASS_DEADLINE_SECONDS gives leadership up, so a stalled leader cannot keep the others waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections

from jobs.scheduler import dispatch, periodic
from jobs.scheduler.leader import Leadership
from jobs.scheduler.rescue import rescue_expired_leases

logger = logging.getLogger(__name__)

Service = Callable[[threading.Event], None]
_services: dict[str, Service] = {}


def scheduler_service(name: str) -> Callable[[Service], Service]:
    """Register `func(stop)` to run in a thread of every scheduler process until `stop` is set."""

    def register(func: Service) -> Service:
        _services[name] = func
        return func

    return register


def run_pass() -> dict[str, Any]:
    rescued = rescue_expired_leases()
    report = dispatch.dispatch_pass()
    return {"rescued": rescued.total, "due_pairs": report.due_pairs, "woken": report.woken}


def _start_services(stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for name, func in _services.items():
        thread = threading.Thread(target=func, args=(stop,), name=f"ballast-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def run_scheduler(stop: threading.Event, *, interval: float | None = None) -> None:
    interval = interval if interval is not None else settings.JOBS_SCHEDULER_INTERVAL_MS / 1000
    leadership = Leadership()
    leading = False
    threads = _start_services(stop)
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not leadership.acquire():
                    if leading:
                        logger.warning("no longer the scheduler leader")
                    leading = False
                    stop.wait(min(1.0, settings.JOBS_LEASE_SECONDS / 3))
                    continue
                if not leading:
                    logger.info("became the scheduler leader (%s)", leadership.identity)
                    leading = True
                summary = run_pass()
                elapsed = time.monotonic() - started
                if elapsed > settings.JOBS_PASS_DEADLINE_SECONDS:
                    logger.warning("scheduler pass took %.1f s, over its deadline: stepping down", elapsed)
                    leadership.release()
                    leading = False
                    continue
                if summary["rescued"] or summary["woken"]:
                    logger.info("scheduler pass: %s", summary)
                ran = periodic.run_due()
                if ran:
                    logger.info("scheduler maintenance: %s", ran)
            except Exception:
                logger.exception("scheduler pass failed")
            finally:
                connections.close_all()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        try:
            leadership.release()
        except Exception:
            logger.exception("could not release leadership")
        for thread in threads:
            thread.join(timeout=10)
