"""scripts/keep_running.py, for real: a process that exits is started again, a code change restarts it in
dev, and SIGTERM stops both the wrapper and its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from ballast.jobs.tests.processes import wait_for

SCRIPT = str(settings.BASE_DIR / "scripts" / "keep_running.py")


@pytest.fixture
def wrappers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _start(started: list[subprocess.Popen[bytes]], *args: str, env: dict[str, str] | None = None) -> Any:
    process = subprocess.Popen(
        [sys.executable, SCRIPT, *args], env={**os.environ, **(env or {})}, stderr=subprocess.PIPE
    )
    started.append(process)
    return process


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_process_that_exits_is_started_again_with_backoff_and_sigterm_stops_everything(
    tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    pids = tmp_path / "pids"
    # Each run records its pid; the third one stays up.
    child = (
        "import os, sys, time; path = sys.argv[1]; open(path, 'a').write(f'{os.getpid()}\\n'); "
        "n = len(open(path).read().split()); time.sleep(60) if n >= 3 else sys.exit(3)"
    )
    wrapper = _start(wrappers, "--first-delay", "0.1", "--max-delay", "5", "--", sys.executable, "-c", child, str(pids))

    wait_for(lambda: len(_pids(pids)) >= 3, timeout=30, what="two restarts")
    started = _pids(pids)
    assert len(set(started)) == 3 and wrapper.poll() is None
    time.sleep(0.5)
    assert len(_pids(pids)) == 3  # the one that stays up is not restarted

    wrapper.send_signal(signal.SIGTERM)
    wrapper.wait(timeout=15)
    assert not _alive(started[-1])
    assert b"exited with 3; starting it again" in wrapper.stderr.read()


def test_in_dev_a_code_change_restarts_the_process(tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]) -> None:
    pids, watched = tmp_path / "pids", tmp_path / "code"
    watched.mkdir()
    child = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(60)"
    args = ["--reload", "--watch", str(watched), "--", sys.executable, "-c", child, str(pids)]
    wrappers_env = {"APP_ENV": "dev"}
    _start(wrappers, *args, env=wrappers_env)
    wait_for(lambda: len(_pids(pids)) == 1, timeout=30, what="the first start")
    time.sleep(0.5)  # the watcher is set up

    (watched / "module.py").write_text("VALUE = 1\n")

    wait_for(lambda: len(_pids(pids)) == 2, timeout=30, what="a restart after the change")
    first, second = _pids(pids)
    wait_for(lambda: not _alive(first), timeout=15, what="the old process to be stopped")
    assert _alive(second)
