"""Private Postgres clusters that tests may restart, kill and fail over (never the machine's own server).

    template = migrated_template(root)         # initdb, roles, database, migrate: once per session
    server = template.clone()                   # a copy of it, started on a free port
    server.restart(mode="immediate")            # or stop(), start(), kill() (SIGKILL the postmaster)
    replica = server.replica()                  # pg_basebackup -R, a synchronous streaming standby
    server.kill(); replica.promote()
    processes = Processes(log_dir, dsns=server.dsns())   # workers and schedulers on that cluster

Clusters run as the `postgres` user when we are root (initdb refuses root), from BALLAST_PG_BINDIR
(/usr/lib/postgresql/15/bin), with fsync off. The roles and the schema's rights come from scripts/sql/, as for
scripts/services.sh. Every cluster a `PgServers` made is stopped and deleted when it closes; the pytest
fixtures here (`pg_servers`, `pg_template`, `private_pg`) close theirs even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connections

BINDIR = Path(os.environ.get("BALLAST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
SQL_DIR = Path(__file__).resolve().parents[2] / "scripts" / "sql"
DB_NAME = "ballast"
# Database alias -> (role, the environment variable that carries its DSN).
ROLES = {
    "default": ("ballast_app", "POSTGRES_DSN"),
    "system": ("ballast_system", "POSTGRES_SYSTEM_DSN"),
    "owner": ("ballast_owner", "POSTGRES_OWNER_DSN"),
}
CONFIG = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "'32MB'",
    "max_connections": "100",
    "max_wal_senders": "5",
    "wal_level": "replica",
    "hot_standby": "on",
    "log_min_messages": "warning",
}
_AS_ROOT = os.geteuid() == 0


def _as_postgres(args: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if _AS_ROOT else list(args)


def _run(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(_as_postgres(args), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    if _AS_ROOT:
        shutil.chown(path, "postgres", "postgres")
    return path


def _write_config(datadir: Path, port: int, extra: dict[str, str] | None = None) -> None:
    lines = [f"{name} = {value}" for name, value in {**CONFIG, **(extra or {})}.items()]
    lines += [f"port = {port}", f"unix_socket_directories = '{datadir.parent}'"]
    (datadir / "postgresql.conf").write_text((datadir / "postgresql.conf").read_text() + "\n" + "\n".join(lines) + "\n")


@dataclass
class PgServer:
    """One private cluster: its data directory, its port, and what a test may do to it."""

    datadir: Path
    port: int
    owner: PgServers
    restarted_at: float = 0.0  # time.monotonic() when the last restart or start completed

    @property
    def log(self) -> Path:
        return self.datadir.parent / "server.log"

    def dsn(self, alias: str = "default", *, hosts: Sequence[PgServer] = ()) -> str:
        """The DSN of an alias's role on this cluster's Ballast database; `hosts`: list those servers too
        (libpq's multi-host form, connecting to whichever accepts writes)."""
        role = ROLES[alias][0]
        servers = [self, *hosts]
        if len(servers) == 1:
            return f"postgres://{role}:{role}@127.0.0.1:{self.port}/{DB_NAME}"
        netloc = ",".join(f"127.0.0.1:{server.port}" for server in servers)
        return f"postgres://{role}:{role}@{netloc}/{DB_NAME}?target_session_attrs=read-write"

    def dsns(self, *, hosts: Sequence[PgServer] = ()) -> dict[str, str]:
        """The POSTGRES_*_DSN environment of a process on this cluster."""
        return {var: self.dsn(alias, hosts=hosts) for alias, (_, var) in ROLES.items()}

    def superuser(self, dbname: str = DB_NAME) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def execute(self, statement: str, *, dbname: str = DB_NAME) -> list[tuple[Any, ...]]:
        """Run SQL as the superuser; the rows of the last statement that returns any."""
        with self.superuser(dbname) as connection, connection.cursor() as cursor:
            cursor.execute(statement.encode())
            return list(cursor.fetchall()) if cursor.description else []

    def _pg_ctl(self, *args: str, timeout: float = 60) -> str:
        return _run(str(BINDIR / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log), *args, timeout=timeout)

    def start(self) -> None:
        self._pg_ctl("-w", "start")
        self.restarted_at = time.monotonic()

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-w", "-m", mode, "stop")

    def restart(self, mode: str = "fast") -> float:
        """`pg_ctl restart -m fast|immediate`; the seconds it took (the server is accepting connections)."""
        started = time.monotonic()
        self._pg_ctl("-w", "-m", mode, "restart")
        self.wait_ready()
        self.restarted_at = time.monotonic()
        return self.restarted_at - started

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and its children at once, as when the host dies."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        victims = [pid, *_children(pid)]
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(victim) for victim in victims) and time.monotonic() < deadline:
            time.sleep(0.05)

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _alive(pid)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1", dbname="postgres")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def replica(self) -> PgServer:
        """A streaming standby of this (running) cluster, made the primary's synchronous standby: a commit on
        the primary returns only once the standby has it, so a failover loses no committed row."""
        root = _private_dir("ballast-pg-replica-")
        datadir = root / "data"
        port = free_port()
        _run(
            str(BINDIR / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(datadir), "-R", "-X", "stream", "--checkpoint=fast", timeout=120,
        )  # fmt: skip
        conf = datadir / "postgresql.conf"
        text = conf.read_text()
        conf.write_text(
            text.replace(f"port = {self.port}", f"port = {port}").replace(str(self.datadir.parent), str(root))
        )
        auto = datadir / "postgresql.auto.conf"
        auto.write_text(
            auto.read_text().replace("primary_conninfo = '", "primary_conninfo = 'application_name=replica ")
        )
        replica = self.owner._track(PgServer(datadir, port, self.owner))
        replica.start()
        self.execute("ALTER SYSTEM SET synchronous_standby_names = 'replica'")
        self.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while self.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica'") != [
            ("sync",)
        ]:
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not become a synchronous standby")
            time.sleep(0.1)
        return replica

    def promote(self) -> None:
        self._pg_ctl("-w", "promote")
        self.restarted_at = time.monotonic()

    def clone(self) -> PgServer:
        """A copy of this stopped cluster, started on a free port."""
        root = _private_dir("ballast-pg-")
        datadir = root / "data"
        _run("cp", "-a", str(self.datadir), str(datadir))
        port = free_port()
        conf = datadir / "postgresql.conf"
        conf.write_text(
            conf.read_text()
            .replace(f"port = {self.port}", f"port = {port}")
            .replace(str(self.datadir.parent), str(root))
        )
        (datadir / "postmaster.pid").unlink(missing_ok=True)
        server = self.owner._track(PgServer(datadir, port, self.owner))
        server.start()
        return server

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                self.kill()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return found


@dataclass
class PgServers:
    """Makes private clusters and stops and deletes every one of them on close()."""

    servers: list[PgServer] = field(default_factory=list)

    def _track(self, server: PgServer) -> PgServer:
        self.servers.append(server)
        return server

    def init(self) -> PgServer:
        """A new, empty, running cluster with Ballast's roles and its (unmigrated) database."""
        root = _private_dir("ballast-pg-")
        datadir = root / "data"
        _run(str(BINDIR / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        port = free_port()
        _write_config(datadir, port)
        server = self._track(PgServer(datadir, port, self))
        server.start()
        server.execute((SQL_DIR / "roles.sql").read_text(), dbname="postgres")
        server.execute(f"CREATE DATABASE {DB_NAME} OWNER ballast_owner", dbname="postgres")
        server.execute((SQL_DIR / "schema.sql").read_text())
        return server

    def close(self) -> None:
        for server in reversed(self.servers):
            server.destroy()
        self.servers.clear()


def migrate(server: PgServer) -> float:
    """`manage.py migrate` as the owner on `server`; the seconds it took."""
    started = time.monotonic()
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRES_")}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=settings.BASE_DIR,
        env={**env, "APP_ENV": "ci", **server.dsns()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stdout}\n{done.stderr}")
    return time.monotonic() - started


def migrated_template(servers: PgServers) -> PgServer:
    """A migrated cluster, stopped, to clone()."""
    template = servers.init()
    seconds = migrate(template)
    template.stop()
    print(f"\nprivate Postgres template: initdb + migrate in {seconds:.1f} s (migrate)")
    return template


@contextmanager
def django_on(server: PgServer) -> Iterator[None]:
    """Point this process's database aliases at `server` for a while (its pools rebuilt, then restored)."""
    saved: dict[str, dict[str, Any]] = {}
    for alias in ROLES:
        if alias not in settings.DATABASES:
            continue
        connection = connections[alias]
        saved[alias] = {key: connection.settings_dict[key] for key in ("HOST", "PORT", "NAME")}
        _drop(alias)
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), NAME=DB_NAME)
    try:
        yield
    finally:
        for alias, values in saved.items():
            _drop(alias)
            connections[alias].settings_dict.update(values)


def reset_connections() -> None:
    """Close this process's connections and pools on every alias (the next query opens new ones)."""
    for alias in ROLES:
        if alias in settings.DATABASES:
            _drop(alias)


def _drop(alias: str) -> None:
    connection = connections[alias]
    try:
        connection.close()
    except Exception:  # noqa: S110  (a connection to a server that is gone)
        pass
    connection.close_pool()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_servers() -> Iterator[PgServers]:
    servers = PgServers()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session")
def pg_template(pg_servers: PgServers) -> PgServer:
    if not (BINDIR / "initdb").exists():
        pytest.skip(f"no Postgres binaries in {BINDIR} (scripts/services.sh installs them)")
    return migrated_template(pg_servers)


@pytest.fixture
def private_pg(pg_template: PgServer, django_db_blocker: Any) -> Iterator[PgServer]:
    """A migrated private cluster of this test's own; this process's aliases point at it meanwhile."""
    servers = pg_template.owner
    before = len(servers.servers)
    server = pg_template.clone()
    try:
        with django_db_blocker.unblock(), django_on(server):
            yield server
    finally:
        for made in servers.servers[before:]:  # the clone and any replica of it
            made.destroy()
        del servers.servers[before:]
