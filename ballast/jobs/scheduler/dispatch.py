"""Dispatch: every (queue, tenant) with due work gets a wake-up, unless it has one pending (jobs.wakeups).

This repairs whatever Redis lost or never got: a process that died between commit and push, a push that
failed, a flushed or failed-over Redis, a worker killed while holding a baton (its key lapses), and jobs that
became due (scheduled, backing off, deferred). It costs one index probe per (queue, tenant) pair with queued
jobs (jobs.sql.DUE_PAIRS) and two Redis round trips, whatever the size of the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

from ballast.jobs import pauses, sql, wakeups
from ballast.jobs.policy import QUEUE_ORDER

SYSTEM = "system"
MAX_PAIRS = 10_000


@dataclass
class DispatchReport:
    due_pairs: int = 0
    woken: int = 0


def due_pairs(*, limit: int = MAX_PAIRS) -> list[tuple[str, int]]:
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(sql.DUE_PAIRS, {"limit": limit})
        return [(queue, tenant_id) for queue, tenant_id in cursor.fetchall()]


def dispatch_pass(*, pairs: list[tuple[str, int]] | None = None) -> DispatchReport:
    """Wake the due pairs (read now unless given) of the queues workers serve, unless paused."""
    paused = pauses.current().queues
    pairs = [
        pair for pair in (due_pairs() if pairs is None else pairs) if pair[0] not in paused and pair[0] in QUEUE_ORDER
    ]
    return DispatchReport(due_pairs=len(pairs), woken=wakeups.wake(pairs))
