"""Paused queues and job types (table jobs_pause, written by the ops console's actions).

A paused type or queue is not claimed: its jobs stay queued and nothing is lost. The worker reads the pauses
once per wake-up (jobs.worker.run.run_pair), synchronous processing once per call, and the scheduler does not
wake a paused queue (jobs.scheduler.dispatch).
"""

from __future__ import annotations

from dataclasses import dataclass

from ballast.jobs.registry import get_handler, registered_types

SYSTEM = "system"


@dataclass(frozen=True)
class Paused:
    queues: frozenset[str]
    types: frozenset[str]

    def excluded_types(self) -> list[str]:
        """The types a claim must leave alone: paused ones and those whose queue is paused."""
        by_queue = {name for name in registered_types() if get_handler(name).queue in self.queues}
        return sorted(self.types | by_queue)


def current() -> Paused:
    from ballast.jobs.models import Pause

    rows = list(Pause.objects.using(SYSTEM).values_list("kind", "name"))
    return Paused(
        queues=frozenset(name for kind, name in rows if kind == Pause.Kind.QUEUE),
        types=frozenset(name for kind, name in rows if kind == Pause.Kind.TYPE),
    )
