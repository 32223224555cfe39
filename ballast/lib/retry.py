"""Exponential backoff with full jitter: delay = random(0, min(cap, base * 2**attempt))."""

from __future__ import annotations

import random

_random = random.SystemRandom()


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    return min(cap, base * 2 ** max(attempt, 0))


def full_jitter(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before the next try after `attempt` failed attempts."""
    return _random.uniform(0, backoff_ceiling(attempt, base=base, cap=cap))
