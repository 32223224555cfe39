"""Handler deadlines: SIGALRM in the worker's main thread, an asynchronous exception in any other.

A process running one job at a time runs it in its main thread, where an alarm interrupts whatever the handler
does, a blocking call included. A process running several (JOBS_WORKER_CONCURRENCY) runs each in a thread of
its own, where no signal can be delivered: a timer then raises JobTimeout in that thread
(PyThreadState_SetAsyncExc), which Python delivers at the thread's next bytecode. A blocking call in C (a
`time.sleep`, a socket read without its own timeout) is not cut short by it: JobTimeout is raised as soon as
that call returns. Queries are bounded anyway, by the statement_timeout of the time the handler has left
(jobs.worker.context); network calls should carry their own timeouts, as they should in any case.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class JobTimeout(Exception):
    pass


def _message(seconds: float) -> str:
    return f"Handler exceeded its timeout of {seconds:g} s"


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with JobTimeout after `seconds` (no limit when `seconds` <= 0).
    In the main thread an outer alarm (RQ's own message timeout) is put back afterwards with its remaining time.

    The deadline may interrupt a query: the handler's transaction then ends in a failed rollback and Django
    drops the connection, so the failure is written on a fresh one (jobs.worker.complete)."""
    if seconds <= 0:
        yield
    elif threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        with _thread_timer(seconds):
            yield


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise JobTimeout(_message(seconds))

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


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Schedule `exception` in the thread (None: withdraw one scheduled and not yet raised)."""
    scheduled = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), scheduled)


@contextmanager
def _thread_timer(seconds: float) -> Iterator[None]:
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"armed": True, "fired": False}

    def expire() -> None:
        with lock:
            if state["armed"]:  # never once the block is left: the exception would land in the caller's code
                state["fired"] = True
                _raise_in(target, JobTimeout)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.name = "ballast-deadline"
    timer.start()
    try:
        yield
    except JobTimeout as exc:
        if exc.args:  # the handler's own
            raise
        raise JobTimeout(_message(seconds)) from None
    finally:
        timer.cancel()
        with lock:
            state["armed"] = False
            if state["fired"]:
                _raise_in(target, None)  # scheduled but not raised yet (the block ended first): withdrawn
