"""The served OpenAPI schema is the API's contract: `schemathesis run --checks all` (every phase: examples,
coverage, fuzzing, stateful) against the app under gunicorn on the test database, with a real tenant admin's
token, reports no failure. Deterministic (the same cases every run), so a failure reproduces."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from ballast.jobs.tests.processes import process_env, wait_for
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from config.tests.pg_servers import free_port

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture
def served(committed: None, tmp_path: Path) -> Iterator[str]:
    """The app under gunicorn with production's configuration (config/gunicorn.py), one process of four
    threads, on the test database; its base URL."""
    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    env = process_env(
        # The fuzzer sends thousands of requests a minute.
        API_RATE_PER_TOKEN="",
        API_RATE_PER_TENANT="",
        QUEUE_PROCESS_RATE="",
        UPLOADS_BACKEND="local",
        UPLOADS_LOCAL_ROOT=str(tmp_path / "uploads"),
        WEB_CONCURRENCY="1",
        WEB_THREADS="4",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _answers(port), timeout=60, what="gunicorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def test_schemathesis_with_every_check_finds_no_failure(
    served: str, tenant: Tenant, make_token: TokenMaker, tmp_path: Path
) -> None:
    token = make_token(tenant, Role.ADMIN)

    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{served}/api/schema/",
            "--checks",
            "all",
            "--generation-deterministic",
            # Postgres text holds no NUL: the API refuses one anywhere with 400 (`invalid`), which a JSON schema
            # cannot say of free-form payloads (tested in test_contract).
            "--generation-allow-x00",
            "false",
            "--max-examples",
            "10",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(settings.BASE_DIR), "BALLAST_FUZZ_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
