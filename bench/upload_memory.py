"""The relay's memory, measured: a real gunicorn serving the app, its worker's RSS sampled while files stream in.

    .venv/bin/python bench/upload_memory.py [--sizes 25,1024] [--copies 5]

1. Starts the production web server, `gunicorn -c config/gunicorn.py config.wsgi`, with one sync worker
   (WEB_CONCURRENCY=1), the local backend on a directory of this disk (var/bench-uploads) and UPLOAD_MAX_BYTES
   raised to 2 GiB for the run.
2. Declares a relay upload per size (MiB) through the API, streams the body with PUT .../content from a
   generator (1 MiB chunks of one random block, so the client holds 1 MiB), finalizes it, and samples the
   worker's VmRSS from /proc every 5 ms. Idle RSS: the worker after a warm-up relay of 1 MiB.
   Target: peak <= idle + 16 MiB for every size.
3. Times a 25 MiB relay (the PUT) against a plain copy (shutil.copyfile, what `cp` does) of the same bytes on
   the same disk, interleaved, median of --copies runs each (before the big relays), and prints the ratio.
The last stdout line is `RESULT {json}`. Runs on a database of its own (ballast_bench_uploads, created,
migrated and dropped by the owner role) and Redis DB 3 unless REDIS_DSN says otherwise; removes its files.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MIB = 1024 * 1024
TARGET_HEADROOM = 16 * MIB
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


DB_NAME = "ballast_bench_uploads"


def database_env() -> dict[str, str]:
    """The environment of the processes this bench starts: APP_ENV=ci, its own database (so the shared one is
    never migrated from this branch), Redis DB 3 unless REDIS_DSN says otherwise."""
    from config.settings import DATABASES  # the settings module only: this process never sets Django up

    def dsn(alias: str) -> str:
        db = DATABASES[alias]
        return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{DB_NAME}"

    return {
        **os.environ,
        "APP_ENV": "ci",
        "REDIS_DSN": os.environ.get("REDIS_DSN", "redis://127.0.0.1:6379/3"),
        "POSTGRES_DSN": dsn("default"),
        "POSTGRES_SYSTEM_DSN": dsn("system"),
        "POSTGRES_OWNER_DSN": dsn("owner"),
        "PYTHONUNBUFFERED": "1",
    }


def owner_connection() -> Any:
    import psycopg

    from config.settings import DATABASES

    db = DATABASES["owner"]
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        autocommit=True,
    )


def create_database(env: dict[str, str]) -> str:
    """A fresh, migrated database with the tenant `bench`; a member's API token for it."""
    with owner_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DB_NAME}")
    manage = [sys.executable, "manage.py"]
    # argv is built here, not from input (S603)
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO_ROOT, env=env, check=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [*manage, "tenant_create", "bench"], cwd=REPO_ROOT, env=env, check=True, capture_output=True
    )
    issued = subprocess.run(  # noqa: S603
        [*manage, "token_create", "--tenant", "bench", "--username", "bench-uploader", "--role", "member"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return issued.stdout.strip().splitlines()[-1]


def drop_database() -> None:
    with owner_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class Sampler:
    """The peak RSS of one process while a block runs, sampled every 5 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))


def body(size: int, block: bytes) -> Iterator[bytes]:
    yield PDF_HEAD
    sent = len(PDF_HEAD)
    while sent < size:
        chunk = block[: min(len(block), size - sent)]
        sent += len(chunk)
        yield chunk


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = dict(self.headers)
        data = kwargs.get("body")
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        headers.update(kwargs.get("headers", {}))
        connection.request(method, path, body=data, headers=headers, encode_chunked=False)
        response = connection.getresponse()
        text = response.read()
        connection.close()
        return response.status, json.loads(text) if text else None

    def relay(self, size: int, block: bytes) -> float:
        """Declare, relay and finalize one file; the PUT's wall time in seconds."""
        status, created = self.call(
            "POST",
            "/api/v1/uploads",
            {"filename": "bench.pdf", "content_type": "application/pdf", "size": size, "mode": "relay"},
        )
        assert status == 201, created
        start = time.perf_counter()
        status, relayed = self.call(
            "PUT",
            f"/api/v1/uploads/{created['id']}/content",
            body=body(size, block),
            headers={"Content-Type": "application/pdf", "Content-Length": str(size)},
        )
        elapsed = time.perf_counter() - start
        assert status == 200, relayed
        status, finalized = self.call("POST", f"/api/v1/uploads/{created['id']}/finalize")
        assert status == 201, finalized
        return elapsed


def wait_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited; see var/bench-uploads/gunicorn.log")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,1024", help="relay sizes in MiB, comma-separated")
    parser.add_argument("--copies", type=int, default=5, help="timed runs of the 25 MiB relay and of the copy")
    args = parser.parse_args()
    sizes = [int(value) * MIB for value in args.sizes.split(",")]

    base_env = database_env()
    print(f"database {DB_NAME}: creating and migrating")
    token = create_database(base_env)
    work = REPO_ROOT / "var" / "bench-uploads"
    shutil.rmtree(work, ignore_errors=True)
    (work / "root").mkdir(parents=True)
    port = free_port()
    env = {
        **base_env,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "1",
        "UPLOADS_BACKEND": "local",
        "UPLOADS_LOCAL_ROOT": str(work / "root"),
        "UPLOAD_MAX_BYTES": str(2 * 1024 * MIB),
    }
    env.pop("TENANT_STORAGE_QUOTA_BYTES", None)
    log = (work / "gunicorn.log").open("wb")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # --timeout: a sync worker busy with one long request sends no heartbeat; the config's 30 s would kill it.
    server = subprocess.Popen(  # noqa: S603 - argv is built here, not from input
        [str(gunicorn), "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "--timeout", "600", "config.wsgi"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    block = os.urandom(MIB)
    results: dict[str, Any] = {"sizes": {}}
    try:
        wait_up(port, server)
        workers = children(server.pid)
        assert len(workers) == 1, workers
        worker = workers[0]
        api = Api(port, token)
        api.relay(MIB, block)  # warm-up: imports, pools and first-request caches
        time.sleep(0.5)
        idle = rss(worker)
        results["idle_rss_mib"] = round(idle / MIB, 1)
        print(f"gunicorn worker {worker}: idle RSS {idle / MIB:.1f} MiB (after a 1 MiB warm-up relay)")
        # The same 25 MiB: relayed through the app versus copied on this disk.
        size = 25 * MIB
        source = work / "source.pdf"
        with source.open("wb") as file:
            for chunk in body(size, block):
                file.write(chunk)
        relay_times, copy_times = [], []
        for index in range(args.copies):  # interleaved, so both see the same state of the disk
            relay_times.append(api.relay(size, block))
            start = time.perf_counter()
            shutil.copyfile(source, work / f"copy-{index}.pdf")
            copy_times.append(time.perf_counter() - start)
        relay_median, copy_median = statistics.median(relay_times), statistics.median(copy_times)
        results["relay_25mib_s"] = round(relay_median, 4)
        results["copy_25mib_s"] = round(copy_median, 4)
        results["relay_to_copy_ratio"] = round(relay_median / copy_median, 1)
        print(
            f"25 MiB: relay {relay_median * 1000:.0f} ms vs plain copy {copy_median * 1000:.0f} ms "
            f"(medians of {args.copies}): the relay takes {relay_median / copy_median:.1f}x the copy"
        )
        for size in sizes:
            with Sampler(worker) as sampler:
                elapsed = api.relay(size, block)
            growth = sampler.peak - idle
            ok = growth <= TARGET_HEADROOM
            results["sizes"][f"{size // MIB}MiB"] = {
                "peak_rss_mib": round(sampler.peak / MIB, 1),
                "growth_mib": round(growth / MIB, 1),
                "seconds": round(elapsed, 2),
                "mib_per_s": round(size / MIB / elapsed, 1),
                "within_target": ok,
            }
            print(
                f"relay {size // MIB:>5} MiB: peak RSS {sampler.peak / MIB:.1f} MiB "
                f"(idle + {growth / MIB:.1f} MiB, target <= +16 MiB: {'ok' if ok else 'OVER'}), "
                f"{elapsed:.2f} s, {size / MIB / elapsed:.0f} MiB/s"
            )

    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        if server.returncode not in (0, -signal.SIGTERM):
            print((work / "gunicorn.log").read_text(errors="replace")[-3000:])
        drop_database()
        shutil.rmtree(work, ignore_errors=True)
    results["within_target"] = all(entry["within_target"] for entry in results["sizes"].values())
    print("RESULT " + json.dumps(results))


if __name__ == "__main__":
    main()
