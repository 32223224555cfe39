"""Real storage for the uploads tests: a local root per session (emptied after each test), moto's standalone S3
server as a process, and the app itself as a runserver process on the test database (for raw HTTP and the
browser). Every process started here is stopped here."""

from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ballast.jobs.tests.conftest import other_tenant, redis, tenant  # noqa: F401  (fixtures)
from ballast.jobs.tests.processes import process_env, wait_for
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.s3 import S3Storage

PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pdf_bytes(size: int = 4096, seed: int = 0) -> bytes:
    """`size` bytes that start like a PDF (what the sniffer checks), the rest varied."""
    filler = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (PDF_HEAD + filler)[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def multipart(fields: dict[str, str], file: bytes, filename: str = "upload.bin") -> tuple[bytes, str]:
    """An S3 POST-policy style form: the fields in order, then the file. (body, Content-Type)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + file
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def http_request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request over a real connection (for moto and the web server process)."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
    try:
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def post_form(url: str, fields: dict[str, str], file: bytes) -> tuple[int, bytes]:
    body, content_type = multipart(fields, file)
    status, _, content = http_request("POST", url, body, {"Content-Type": content_type})
    return status, content


def declare(client: APIClient, data: bytes | None = None, **overrides: Any) -> Any:
    """POST /api/v1/uploads for `data` (a PDF by default); the response."""
    data = pdf_bytes() if data is None else data
    body = {"filename": "report.pdf", "content_type": "application/pdf", "size": len(data), **overrides}
    return client.post("/api/v1/uploads", body, format="json")


def stored_keys(area: str = "") -> list[str]:
    """Every object key in the storage in force (optionally only tmp/ or docs/ ones)."""
    storage = get_storage()
    found = []
    for tenant_id in range(1, 50):
        for prefix in ("tmp", "docs"):
            if area and prefix != area:
                continue
            found += [info.key for info in storage.list(f"t/{tenant_id}/{prefix}/")]
    return found


@pytest.fixture(scope="session")
def uploads_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(autouse=True)
def local_storage(settings: Any, uploads_root: Path) -> Iterator[Path]:
    """The local backend on this session's root, with no leftovers from the test before."""
    settings.UPLOADS_BACKEND = "local"
    settings.UPLOADS_LOCAL_ROOT = str(uploads_root)
    settings.TENANT_STORAGE_QUOTA_BYTES = None
    yield uploads_root
    for child in uploads_root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


@pytest.fixture
def member(tenant: Tenant, make_token: Any) -> APIClient:  # noqa: F811
    return client_for(make_token(tenant, Role.MEMBER))


@pytest.fixture
def admin(tenant: Tenant, make_token: Any) -> APIClient:  # noqa: F811
    return client_for(make_token(tenant, Role.ADMIN))


class Server:
    """A process listening on 127.0.0.1; stopped (SIGTERM, then SIGKILL) by its fixture."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.name = Path(args[0]).name
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            args, cwd=settings.BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.log_path = log

    def wait_until_up(self, path: str, timeout: float = 30) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log_path.read_text(errors='replace')}")
            try:
                http_request("GET", self.url + path)
            except OSError:
                return False
            return True

        wait_for(answers, timeout=timeout, interval=0.1, what=f"{self.name} on port {self.port}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server (pip moto[server]) as a real process on a free port; its URL."""
    port = unused_port()
    binary = Path(sys.executable).with_name("moto_server")
    server = Server(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], port, tmp_path_factory.mktemp("moto") / "moto.log"
    )
    try:
        server.wait_until_up("/moto-api/")
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def s3(settings: Any, moto_server: str) -> S3Storage:
    """The S3 backend, on a fresh bucket of the moto server."""
    settings.UPLOADS_BACKEND = "s3"
    settings.S3_ENDPOINT_URL = moto_server
    settings.S3_BUCKET = f"ballast-test-{uuid.uuid4().hex[:12]}"
    settings.S3_REGION = "us-east-1"
    settings.S3_ACCESS_KEY_ID = "testing"
    settings.S3_SECRET_ACCESS_KEY = "testing"
    settings.S3_ADDRESSING_STYLE = "path"
    storage = get_storage()
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    return storage


@pytest.fixture(scope="session")
def web_server(django_db_setup: None, uploads_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app as a real HTTP server process (runserver; --insecure serves the static ES module), on the test
    database under the production roles and on this session's upload root; its base URL."""
    port = unused_port()
    env = process_env(UPLOADS_BACKEND="local", UPLOADS_LOCAL_ROOT=str(uploads_root), UPLOAD_MAX_BYTES=str(25 << 20))
    server = Server(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure", "--skip-checks"],
        port,
        tmp_path_factory.mktemp("web") / "web.log",
        env=env,
    )
    try:
        server.wait_until_up("/healthz")
        yield server.url
    finally:
        server.stop()


def raw_exchange(base_url: str, head: bytes, body: bytes, *, half_close: bool = False, wait: float = 5) -> bytes:
    """Send a hand-made request (headers and body exactly as given) and read whatever comes back."""
    parsed = urllib.parse.urlsplit(base_url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=wait) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received and not half_close:
                header, _, rest = received.partition(b"\r\n\r\n")
                lengths = [
                    int(line.split(b":")[1])
                    for line in header.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                length = lengths[0] if lengths else None
                if length is not None and len(rest) >= length:
                    break
        return received
