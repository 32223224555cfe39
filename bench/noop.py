"""The plain-RQ baseline's job: records its start (bench.starts) and, in the I/O-bound phase, waits."""

from __future__ import annotations

import time

from bench.starts import record_start


def noop(seq: int, sleep: float = 0.0) -> None:
    record_start(seq, "rq")
    if sleep:
        time.sleep(sleep)  # the I/O-bound phase: a handler waiting on the network
