"""Keep one process running: start it again when it exits (with backoff), and in dev when the code changes.

    python scripts/keep_running.py [--reload] [--watch DIR]... [--first-delay S] [--max-delay S] -- command...

Used by the Procfile, so that under honcho (`make run`) a process that exits (a worker started before Redis,
a crash) comes back instead of honcho stopping every process. The pause before a restart doubles from
--first-delay (1 s) to --max-delay (30 s) and starts over once the process has run for --max-delay.
`--reload` (only when APP_ENV=dev): also restart when a .py file under --watch (default: the repository's
packages)
changes, using watchfiles. SIGTERM or SIGINT stop the process (SIGTERM, SIGKILL after 10 s) and this script.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

REPOSITORY = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10.0


def _say(message: str) -> None:
    print(f"keep_running: {message}", file=sys.stderr, flush=True)


class Keeper:
    def __init__(self, command: list[str], first_delay: float, max_delay: float) -> None:
        self.command = command
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.restart_now = threading.Event()

    def stop_child(self) -> int | None:
        child = self.child
        if child is None or child.poll() is not None:
            return None if child is None else child.returncode
        child.terminate()
        try:
            return child.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()
        self.restart_now.set()

    def run(self) -> int:
        delay = self.first_delay
        while not self.stopping.is_set():
            started = time.monotonic()
            self.restart_now.clear()
            self.child = subprocess.Popen(self.command)  # noqa: S603  (the command line it was given)
            while self.child.poll() is None and not self.restart_now.wait(0.2):
                pass
            if self.stopping.is_set():
                break
            if self.child.poll() is None:  # a code change: restart at once
                _say("code changed; restarting")
                self.stop_child()
                delay = self.first_delay
                continue
            if time.monotonic() - started >= self.max_delay:
                delay = self.first_delay
            _say(f"{' '.join(self.command)} exited with {self.child.returncode}; starting it again in {delay:g}s")
            if self.stopping.wait(delay):
                break
            delay = min(delay * 2, self.max_delay)
        code = self.stop_child()
        return 0 if code is None else code


def _watch(keeper: Keeper, directories: list[str]) -> None:
    from watchfiles import PythonFilter, watch

    for _changes in watch(*directories, watch_filter=PythonFilter(), stop_event=keeper.stopping):
        keeper.restart_now.set()


def _packages() -> list[str]:
    """The repository's Python packages (not the virtualenv, not var/)."""
    return sorted(str(path.parent) for path in REPOSITORY.glob("*/__init__.py"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reload", action="store_true", help="in dev, restart on .py changes")
    parser.add_argument("--watch", action="append", default=[], help="a directory to watch (repeatable)")
    parser.add_argument("--first-delay", type=float, default=1.0)
    parser.add_argument("--max-delay", type=float, default=30.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    keeper = Keeper(command, args.first_delay, args.max_delay)
    signal.signal(signal.SIGTERM, keeper.on_signal)
    signal.signal(signal.SIGINT, keeper.on_signal)
    if args.reload and os.environ.get("APP_ENV") == "dev":
        directories = args.watch or _packages()
        threading.Thread(target=_watch, args=(keeper, directories), daemon=True).start()
    return keeper.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
