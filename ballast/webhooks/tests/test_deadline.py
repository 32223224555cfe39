"""The webhook deadline bounds the whole exchange: a receiver that drips its headers or its body, one byte at a
time, ends the attempt as a failure of that attempt within the deadline, whatever its `Connection` header."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ballast.tenants.models import Tenant
from ballast.webhooks import ssrf, transport
from ballast.webhooks.tests.conftest import delivery_row, make_endpoint, publish, result_of, run_attempt

DRIP_EVERY = 0.2  # seconds between two bytes
DRIP_FOR = 6.0  # a dripping answer lasts this long at most, then the receiver finishes it
DEADLINE = 1.0
MARGIN = 1.5  # scheduling slack on a loaded machine; still far below DRIP_FOR


class Dripper:
    """A real TCP server on 127.0.0.1 that reads one request and answers it a byte at a time."""

    def __init__(self, *, drip: str, connection_close: bool) -> None:
        self.drip = drip  # "headers" or "body"
        self.connection_close = connection_close
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._listener.settimeout(0.2)
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            received = b""
            try:
                while b"\r\n\r\n" not in received:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                body = b"x" * int(DRIP_FOR / DRIP_EVERY)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                head += b"Content-Length: %d\r\n" % len(body)
                if self.connection_close:
                    head += b"Connection: close\r\n"
                head += b"\r\n"
                if self.drip == "headers":
                    slow, fast = b"X-Slow: " + b"y" * len(body) + b"\r\n", head
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    self._drip(conn, slow)
                    conn.sendall(fast[len(b"HTTP/1.1 200 OK\r\n") :] + body)
                else:
                    conn.sendall(head)
                    self._drip(conn, body)
            except OSError:
                return

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for index in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[index : index + 1])
            time.sleep(DRIP_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def dripper(request: pytest.FixtureRequest) -> Iterator[Dripper]:
    drip, connection_close = request.param
    server = Dripper(drip=drip, connection_close=connection_close)
    try:
        yield server
    finally:
        server.stop()


def _target(port: int) -> ssrf.Target:
    return ssrf.Target(
        url=f"http://127.0.0.1:{port}/in",
        scheme="http",
        host="127.0.0.1",
        port=port,
        request_target="/in",
        addresses=("127.0.0.1",),
    )


DRIPS = [("body", True), ("body", False), ("headers", True), ("headers", False)]
IDS = ["body-connection-close", "body-keep-alive", "headers-connection-close", "headers-keep-alive"]


@pytest.mark.parametrize("dripper", DRIPS, ids=IDS, indirect=True)
def test_a_dripping_receiver_times_out_within_the_deadline(dripper: Dripper) -> None:
    started = time.monotonic()

    with pytest.raises(transport.TransportError, match="timed out"):
        transport.post(_target(dripper.port), body=b"{}", headers={}, timeout=DEADLINE)

    assert time.monotonic() - started < DEADLINE + MARGIN


@pytest.mark.usefixtures("private_networks")
@pytest.mark.parametrize("dripper", [("body", True)], ids=["body-connection-close"], indirect=True)
def test_a_dripping_receiver_is_a_failed_attempt_recorded_on_the_delivery(
    tenant: Tenant, dripper: Dripper, settings
) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = DEADLINE
    make_endpoint(tenant, f"http://127.0.0.1:{dripper.port}/hooks")
    (delivery,) = publish(tenant)

    job = run_attempt(delivery.pk, 1)

    row = delivery_row(delivery.pk)
    assert job.status == "succeeded"  # the job did its work: it recorded a failed attempt, not a JobTimeout
    assert (row.status, row.attempts, row.response_status) == ("pending", 1, None)
    assert "timed out after 1 s" in row.last_error
    assert result_of(job)["duration_ms"] < (DEADLINE + MARGIN) * 1000
