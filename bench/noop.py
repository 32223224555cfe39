"""The plain-RQ baseline's job: records its start (bench.starts) and does nothing else."""

from __future__ import annotations

from bench.starts import record_start


def noop(seq: int) -> None:
    record_start(seq, "rq")
