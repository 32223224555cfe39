"""Private Redis servers for fault tests and the chaos benchmark: start, stop, kill, hang and resume a real
`redis-server` on a free port in a directory of its own, and a Sentinel set-up (a primary, replicas, sentinels).

    with redis_server(tmp_path) as server:        # stopped (SIGKILL if need be) on exit
        url = server.url(db=0)
        server.pause(); server.resume()           # SIGSTOP / SIGCONT: a hung Redis
        server.kill(); server.start()             # SIGKILL, then the same port and data directory again

    with sentinel_setup(tmp_path) as setup:       # primary + 1 replica + 3 sentinels, failover in ~1 s
        setup.sentinels_setting                   # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
        setup.primary.kill(); setup.wait_for_failover()

Never the machine's own Redis: every server here is one these helpers started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis

REDIS_SERVER = "/usr/bin/redis-server"
HOST = "127.0.0.1"
MASTER_NAME = "ballast-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    """One redis-server (or sentinel) process on `port`, with its files under `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def client(self, **kwargs: object) -> Redis:
        return Redis(host=HOST, port=self.port, socket_timeout=2, socket_connect_timeout=2, **kwargs)  # type: ignore[arg-type]

    def start(self) -> RedisServer:
        """Start (or start again, on the same port and files) and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        if self.sentinel and not config.exists():
            config.write_text("")  # a sentinel rewrites its own config file
        elif not self.sentinel:
            config.write_text("")
        command = [REDIS_SERVER, str(config), "--port", str(self.port), "--bind", HOST, "--dir", str(self.directory)]
        if self.sentinel:
            command.append("--sentinel")
        else:
            command += ["--save", "", "--appendonly", "no"]
        log = (self.directory / "server.log").open("ab")
        self.process = subprocess.Popen([*command, *self.args], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait(lambda: self.client().ping(), timeout=10, what=f"redis on {self.port}")
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; safe to call twice, and on a paused server."""
        if not self.running or self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: Redis vanishes at once (connections reset)."""
        if self.process is not None and self.running:
            self.process.kill()
            self.process.wait(timeout=5)

    def pause(self) -> None:
        """SIGSTOP: Redis hangs (connections stay open, nothing answers)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@contextlib.contextmanager
def redis_server(directory: Path, *args: str) -> Iterator[RedisServer]:
    """A private Redis, stopped at the end whatever happened."""
    server = RedisServer(directory / "redis", args=args)
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class SentinelSetup:
    primary: RedisServer
    replicas: list[RedisServer]
    sentinels: list[RedisServer]
    master_name: str = MASTER_NAME

    @property
    def sentinels_setting(self) -> str:
        """The value of REDIS_SENTINELS."""
        return ",".join(f"{HOST}:{sentinel.port}" for sentinel in self.sentinels)

    def master_port(self) -> int:
        """The primary's port as a running sentinel reports it."""
        for sentinel in self.sentinels:
            if sentinel.running:
                with contextlib.suppress(Exception):
                    address: Any = sentinel.client().sentinel_get_master_addr_by_name(self.master_name)
                    return int(address[1])
        raise AssertionError("no sentinel answers")

    def wait_for_failover(self, *, timeout: float = 30) -> RedisServer:
        """Wait until the sentinels name another server as the primary and it accepts writes; returns it."""
        old = self.primary.port
        _wait(lambda: self.master_port() != old, timeout=timeout, what="a sentinel failover")
        promoted = next(server for server in self.replicas if server.port == self.master_port())
        _wait(lambda: promoted.client().set("ballast:test:writable", "1"), timeout=timeout, what="a writable primary")
        return promoted

    def stop(self) -> None:
        for server in [*self.sentinels, *self.replicas, self.primary]:
            server.stop()


@contextlib.contextmanager
def sentinel_setup(
    directory: Path, *, replicas: int = 1, sentinels: int = 3, down_after_ms: int = 500
) -> Iterator[SentinelSetup]:
    """A primary, `replicas` replicas and `sentinels` sentinels (quorum 2) that fail over within about a
    second of the primary's death. Everything is stopped at the end."""
    primary = RedisServer(directory / "primary")
    setup = SentinelSetup(primary=primary, replicas=[], sentinels=[])
    try:
        primary.start()
        for index in range(replicas):
            replica = RedisServer(directory / f"replica{index}", args=("--replicaof", HOST, str(primary.port)))
            setup.replicas.append(replica.start())
        for replica in setup.replicas:
            _wait(
                lambda r=replica: r.client().info("replication").get("master_link_status") == "up",
                timeout=15,
                what="replication",
            )
        for index in range(sentinels):
            sentinel = RedisServer(directory / f"sentinel{index}", sentinel=True)
            (sentinel.directory).mkdir(parents=True, exist_ok=True)
            (sentinel.directory / "sentinel.conf").write_text(
                f"sentinel monitor {MASTER_NAME} {HOST} {primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 2000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            setup.sentinels.append(sentinel.start())

        # Every sentinel knows the replica and the other sentinels before anything is killed.
        def discovered(sentinel: RedisServer) -> bool:
            state: Any = sentinel.client().sentinel_master(MASTER_NAME)
            return int(state["num-other-sentinels"]) == sentinels - 1 and int(state["num-slaves"]) == replicas

        _wait(
            lambda: all(discovered(sentinel) for sentinel in setup.sentinels),
            timeout=20,
            what="sentinels to discover each other",
        )
        yield setup
    finally:
        setup.stop()
