"""The moment each benchmark handler started: its first line appends `seq time` to a file of its process.

All three systems' handlers (Ballast's `bench.noop`, plain RQ's bench.noop.noop, Procrastinate's task) call
record_start first, so "start" means the same thing everywhere and is read with the producer's clock
(time.time(), one machine). The directory comes from BENCH_START_DIR; without it nothing is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_DIR_ENV = "BENCH_START_DIR"
SUFFIX = ".starts"

_files: dict[str, int] = {}


def record_start(seq: int, system: str) -> None:
    started = time.time()
    directory = os.environ.get(START_DIR_ENV)
    if not directory:
        return
    fd = _files.get(directory)
    if fd is None:
        path = os.path.join(directory, f"{system}-{os.getpid()}{SUFFIX}")
        fd = _files[directory] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # One unbuffered write per job: nothing is lost when the process is stopped.
    os.write(fd, f"{seq} {started:.6f}\n".encode())


@dataclass(frozen=True)
class Start:
    process: str  # the file's name: system and pid
    seq: int
    at: float


def read_starts(directory: Path) -> Iterator[Start]:
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        for line in path.read_text().splitlines():
            seq, at = line.split()
            yield Start(process=path.stem, seq=int(seq), at=float(at))
