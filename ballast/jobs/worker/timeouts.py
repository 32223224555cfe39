"""Handler deadlines (SIGALRM, in the worker's main thread)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class JobTimeout(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with JobTimeout after `seconds` (main thread only; elsewhere no limit).
    An outer alarm (RQ's own message timeout) is put back afterwards with its remaining time.

    The alarm may interrupt a query: the handler's transaction then ends in a failed rollback and Django
    drops the connection, so the failure is written on a fresh one (jobs.worker.complete)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise JobTimeout(f"Handler exceeded its timeout of {seconds:g} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_remaining, _interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_remaining > 0:
            left = previous_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
