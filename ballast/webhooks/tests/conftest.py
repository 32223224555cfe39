from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from ballast.jobs.models import Job
from ballast.jobs.tests.conftest import other_tenant, redis, spans, tenant  # noqa: F401  (fixtures)
from ballast.jobs.worker.run import run_now
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from ballast.webhooks.delivery import job_key
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint
from ballast.webhooks.services import create_endpoint, fan_out


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script (then 200)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = receiver._record(Received(self.path, dict(self.headers.items()), body))
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self._replies = list(replies)

    def _record(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if self._replies else Reply()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_networks(settings: Any) -> None:
    """Lifts the SSRF address check, as WEBHOOK_ALLOW_PRIVATE_NETWORKS=true does in dev, and the port rule (local
    receivers listen on any free port)."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOWED_PORTS = None


def make_endpoint(owner: Tenant, url: str, event_types: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
    with tenant_scope(owner.pk):
        created = create_endpoint(url=url, event_types=event_types or [])
    return created.endpoint, created.secret


def cloud_event(event_id: str, event_type: str = "job.succeeded", **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/ballast/tests",
        "type": event_type,
        "time": "2026-11-23T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"job_id": 1, "note": "ünïcode ✓", **data},
    }


def publish(
    owner: Tenant,
    event_type: str = "job.succeeded",
    event_id: uuid.UUID | str | None = None,
    event_created_at: datetime | None = None,
) -> list[WebhookDelivery]:
    """As the outbox relay does: fan_out inside the tenant's scope, committed. A new event is created now."""
    event_id = event_id or uuid.uuid4()
    with tenant_scope(owner.pk):
        return fan_out(
            tenant_id=owner.pk,
            event_id=event_id,
            event_created_at=event_created_at or timezone.now(),
            event_type=event_type,
            body=cloud_event(str(event_id), event_type),
        )


def attempt_job(delivery_id: int, attempt: int) -> Job | None:
    return Job.objects.unscoped().filter(idempotency_key=job_key(delivery_id, attempt)).first()


def run_attempt(delivery_id: int, attempt: int) -> Job:
    """Run the job of attempt n in-process, now (whatever its schedule), as a worker would."""
    job = attempt_job(delivery_id, attempt)
    assert job is not None, f"no job for attempt {attempt} of delivery {delivery_id}"
    Job.objects.unscoped().filter(pk=job.pk).update(available_at=timezone.now())
    run_now(job.pk)
    return Job.objects.unscoped().get(pk=job.pk)


def result_of(job: Job) -> dict[str, Any]:
    assert isinstance(job.result, dict), job.last_error
    return job.result


def delivery_row(delivery_id: int) -> WebhookDelivery:
    return WebhookDelivery.objects.unscoped().get(pk=delivery_id)


def endpoint_row(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.unscoped().get(pk=endpoint_id)
