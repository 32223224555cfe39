"""Periodic tasks that apps register; the scheduler's leader runs each when it is due.

@periodic("uploads.cleanup", every=timedelta(minutes=10))
def cleanup() -> None: ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connections

logger = logging.getLogger(__name__)


@dataclass
class PeriodicTask:
    name: str
    every: timedelta
    func: Callable[[], object]
    next_run: float = field(default=0.0)


_tasks: dict[str, PeriodicTask] = {}


def periodic(name: str, *, every: timedelta) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def register(func: Callable[[], object]) -> Callable[[], object]:
        _tasks[name] = PeriodicTask(name=name, every=every, func=func)
        return func

    return register


def run_due(now: float | None = None) -> list[str]:
    """Run every task whose time has come; a failing task is logged and tried again at its next time."""
    now = time.monotonic() if now is None else now
    ran = []
    for task in _tasks.values():
        if now < task.next_run:
            continue
        task.next_run = now + task.every.total_seconds()
        try:
            task.func()
        except Exception:
            logger.exception("periodic task %s failed", task.name)
        ran.append(task.name)
    return ran


def vacuum(tables: list[str], *, using: str = "owner") -> None:
    """VACUUM (ANALYZE) tables whose rows churn (queue-like status updates), whatever autovacuum is doing:
    their partial indexes on "pending" rows otherwise fill with dead entries. Cheap on pages that are
    already all-visible. Runs as the owner role, outside any transaction."""
    with connections[using].cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connections[using].ops.quote_name(table)}")
