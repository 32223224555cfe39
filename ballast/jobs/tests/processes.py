"""Real worker and scheduler processes for tests, pointed at the test database (or at the DSNs given, e.g. a
private cluster of config.tests.pg_servers) and Redis. Always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from django.conf import settings

FAST_SETTINGS = {
    "JOBS_LEASE_SECONDS": "3",  # short, for recovery tests; long enough for a heartbeat on a busy CI box
    "JOBS_SCHEDULER_INTERVAL_MS": "100",
    "JOBS_WAKE_TTL_SECONDS": "3",
}


def _dsn(alias: str) -> str:
    db = settings.DATABASES[alias]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(*, dsns: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """A process's environment: the test database's DSNs unless `dsns` names others (POSTGRES_*_DSN)."""
    env = {
        **os.environ,
        "APP_ENV": "ci",
        "POSTGRES_DSN": _dsn("default"),
        "POSTGRES_SYSTEM_DSN": _dsn("system"),
        "POSTGRES_OWNER_DSN": _dsn("owner"),
        **(dsns or {}),
        "REDIS_DSN": settings.REDIS_DSN,
        "PYTHONUNBUFFERED": "1",
        **FAST_SETTINGS,
    }
    env.update(extra)
    return env


class Processes:
    """Starts manage.py processes and guarantees they are gone at the end (SIGTERM, then SIGKILL).
    `dsns`: the POSTGRES_*_DSN of every process started (default: the test database's)."""

    def __init__(self, log_dir: Path, *, dsns: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.dsns = dsns
        self.running: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(self, *args: str, name: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=process_env(dsns=self.dsns, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    def worker(
        self,
        *queues: str,
        burst: bool = False,
        name: str = "worker",
        settings: dict[str, str] | None = None,
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """An rqworker on `queues` (all by default); `settings` override, e.g. {"JOBS_LEASE_SECONDS": "4"}."""
        args = ["rqworker", *(queues or ("maintenance", "default", "email", "webhooks"))]
        if burst:
            args.append("--burst")
        return self.start(*args, name=name, **(settings or {}), **env)

    def scheduler(
        self,
        name: str = "scheduler",
        settings: dict[str, str] | None = None,
        imports: tuple[str, ...] = (),
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """A jobs_scheduler; `imports`: test modules it loads first (e.g. periodic tasks of tests only)."""
        if not imports:
            return self.start("jobs_scheduler", name=name, **(settings or {}), **env)
        code = "".join(f"import {module}; " for module in imports)
        code += "from django.core.management import call_command; call_command('jobs_scheduler')"
        return self.start("shell", "-c", code, name=name, **(settings or {}), **env)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._logs:
            log.close()
        self.running.clear()


def wait_for(condition: Callable[[], object], *, timeout: float = 30, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
