"""The retry policies of everything Ballast tries again (a job's attempts, the relay's hand-offs, webhook
deliveries): when the next try runs after some failed ones.

- Exponential with full jitter, delay = random(0, min(cap, base * 2**failed)): jobs (per queue and type) and
  the outbox relay. Full jitter spreads a burst of failures evenly over the window, so they do not come back
  together.
- A fixed schedule with a proportional jitter: webhook deliveries, whose receivers expect a published schedule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta

_random = random.SystemRandom()


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    return min(cap, base * 2 ** max(attempt, 0))


def full_jitter(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before the next try after `attempt` failed attempts."""
    return _random.uniform(0, backoff_ceiling(attempt, base=base, cap=cap))


def on_schedule(schedule: Sequence[timedelta], failed_attempts: int, *, jitter: float) -> timedelta | None:
    """The wait after `failed_attempts` failures: the schedule's entry for the next attempt, ± `jitter` of it;
    None when the schedule is exhausted."""
    if failed_attempts >= len(schedule):
        return None
    return schedule[failed_attempts] * _random.uniform(1 - jitter, 1 + jitter)
