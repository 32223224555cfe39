"""Supervised services: each duty of the scheduler runs in a thread of its own, with its own interval and
deadline, so one slow service never delays another (nor the leadership ticker, jobs.scheduler.leader).

@scheduler_service("outbox-relay")                          # every scheduler process, runs until stop
@scheduler_service("rescue", every=0.5, deadline=10, leader_only=True)

`func(stop)` is one iteration; it should return soon after `stop` is set. A leader-only service runs only
during a term of leadership and its `stop` is that term's end. An iteration that raises is logged, its
thread's connections are closed (a dead pooled connection is not reused) and the service runs again after a
back-off (doubling from `every`, up to JOBS_SERVICE_BACKOFF_CAP_SECONDS). An iteration over its deadline is
logged while it runs; the services bound their own statements by it (statement_timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from ballast.jobs.scheduler.leader import Leadership

logger = logging.getLogger(__name__)

Service = Callable[[threading.Event], object]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    func: Service
    every: float = 0.0  # seconds from the start of an iteration to the start of the next
    deadline: float | None = None  # an iteration longer than this is logged as over its deadline
    leader_only: bool = False


_services: dict[str, ServiceSpec] = {}


def scheduler_service(
    name: str, *, every: float = 0.0, deadline: float | None = None, leader_only: bool = False
) -> Callable[[Service], Service]:
    """Register `func(stop)` as a supervised service of every scheduler process (leader_only: of the leader)."""

    def register(func: Service) -> Service:
        _services[name] = ServiceSpec(name=name, func=func, every=every, deadline=deadline, leader_only=leader_only)
        return func

    return register


def registered_services() -> list[ServiceSpec]:
    return list(_services.values())


@dataclass
class _Running:
    spec: ServiceSpec
    thread: threading.Thread
    started: float | None = None  # the running iteration's start (monotonic)
    warned: bool = False


def _backoff(spec: ServiceSpec, failures: int) -> float:
    cap = float(settings.JOBS_SERVICE_BACKOFF_CAP_SECONDS)
    return float(min(cap, max(spec.every, 0.5) * 2 ** (failures - 1)))


def _supervise(running: _Running, stop: threading.Event, leadership: Leadership) -> None:
    spec = running.spec
    failures = 0
    while not stop.is_set():
        service_stop = stop
        if spec.leader_only:
            term = leadership.wait_for_term(stop, timeout=1.0)
            if term is None:
                continue
            service_stop = term.ended
        running.started = time.monotonic()
        wait = spec.every
        try:
            spec.func(service_stop)
            failures = 0
        except Exception:
            failures += 1
            wait = _backoff(spec, failures)
            logger.exception("scheduler service %s failed (%d in a row); again in %.1f s", spec.name, failures, wait)
        finally:
            connections.close_all()
            elapsed = time.monotonic() - running.started
            running.started = None
            running.warned = False
        if spec.deadline is not None and elapsed > spec.deadline:
            logger.warning(
                "scheduler service %s took %.1f s, over its %.1f s deadline", spec.name, elapsed, spec.deadline
            )
        service_stop.wait(max(0.0, wait - (elapsed if failures == 0 else 0.0)))


def _watch(services: list[_Running]) -> None:
    """Log, once per iteration, a service that is still running past its deadline."""
    now = time.monotonic()
    for running in services:
        started, deadline = running.started, running.spec.deadline
        if started is not None and deadline is not None and not running.warned and now - started > deadline:
            running.warned = True
            logger.warning(
                "scheduler service %s has run %.1f s, over its %.1f s deadline",
                running.spec.name,
                now - started,
                deadline,
            )


def run_services(stop: threading.Event, leadership: Leadership, specs: list[ServiceSpec]) -> None:
    """Run the leadership ticker and every service until `stop`, then wait for them (a bounded time)."""
    ticker = threading.Thread(target=leadership.run, args=(stop,), name="ballast-leadership", daemon=True)
    ticker.start()
    services: list[_Running] = []
    for spec in specs:
        running = _Running(spec=spec, thread=threading.Thread(name=f"ballast-{spec.name}", daemon=True))
        running.thread = threading.Thread(
            target=_supervise, args=(running, stop, leadership), name=f"ballast-{spec.name}", daemon=True
        )
        running.thread.start()
        services.append(running)
    while not stop.wait(0.2):
        _watch(services)
        leadership.current_term()  # ends a term that ran out, even if the ticker is late
    for running in services:
        running.thread.join(timeout=10)
    ticker.join(timeout=10)
