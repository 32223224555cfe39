"""One HTTP POST to a vetted target (webhooks.ssrf.Target), pinned to its vetted addresses.

- The socket connects to an address the guard checked; the Host header and the TLS server name (SNI and
  certificate check) use the URL's host name. No second DNS lookup, so DNS rebinding cannot redirect it.
- Redirects are never followed (http.client does not follow them); proxies from the environment are
  never used.
- The whole exchange (connect, TLS handshake, send, status line, headers and the body excerpt) has one
  deadline: a watchdog shuts the connection's own socket down when it passes, however slowly the receiver
  drips bytes, and the attempt ends in TransportError ("timed out"). The watchdog holds the socket itself,
  not http.client's handle on it, which a response with `Connection: close` detaches.
- At most `excerpt_bytes` of the response body are read; the rest is never downloaded.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from ballast.webhooks.ssrf import Target

USER_AGENT = "Ballast-Webhooks/1.0"


class TransportError(Exception):
    """No HTTP response: refused, reset, TLS failure, timeout. The message says which."""


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: bytes
    retry_after: str | None
    location: str | None


def _connect(addresses: tuple[str, ...], port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first vetted address that accepts one, within the deadline."""
    last_error: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            # A numeric address: create_connection's own getaddrinfo does no DNS lookup.
            sock = socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            last_error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    if last_error is None:
        raise TimeoutError("timed out")
    raise last_error


class _Watchdog:
    """Shuts the exchange's socket down once the deadline passes; a socket attached later is shut at once."""

    def __init__(self, timeout: float) -> None:
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired.is_set():
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired.set()
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is None:
            return
        try:
            # The plain socket's shutdown, also under TLS: it wakes a blocked recv or send (close() would not)
            # without touching the TLS state another thread is using.
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
        except OSError:
            pass


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, *, timeout: float, deadline: float, watchdog: _Watchdog) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses
        self._deadline = deadline
        self._watchdog = watchdog

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self._deadline)
        self._watchdog.attach(sock)
        sock.settimeout(self.timeout)
        self.sock = sock


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, target: Target, *, timeout: float, deadline: float, watchdog: _Watchdog, context: ssl.SSLContext
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addresses = target.addresses
        self._deadline = deadline
        self._watchdog = watchdog
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self._deadline)
        sock.settimeout(self.timeout)
        tls = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self._watchdog.attach(tls)  # wrap_socket took over the file descriptor: watch the TLS socket
        tls.do_handshake()
        self.sock = tls


def post(
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    excerpt_bytes: int = 1024,
    tls_context: ssl.SSLContext | None = None,
) -> Response:
    """POST body to the target; the response, whatever its status, or TransportError."""
    deadline = time.monotonic() + timeout
    watchdog = _Watchdog(timeout)
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = tls_context or ssl.create_default_context()
        connection = _PinnedHTTPSConnection(
            target, timeout=timeout, deadline=deadline, watchdog=watchdog, context=context
        )
    else:
        connection = _PinnedHTTPConnection(target, timeout=timeout, deadline=deadline, watchdog=watchdog)
    watchdog.start()
    try:
        connection.request(
            "POST",
            target.request_target,
            body=body,
            headers={"User-Agent": USER_AGENT, "Connection": "close", **headers},
        )
        response = connection.getresponse()
        try:
            excerpt = response.read(excerpt_bytes) if excerpt_bytes > 0 else b""
        except (OSError, http.client.HTTPException):
            if watchdog.expired.is_set():
                raise
            excerpt = b""  # the status is the answer; a body the receiver cut short only loses its excerpt
        if watchdog.expired.is_set():
            # The body was cut by the deadline (a shut socket reads as its end): the exchange did not finish.
            raise TimeoutError("timed out")
        return Response(
            status=response.status,
            excerpt=excerpt,
            retry_after=response.getheader("Retry-After"),
            location=response.getheader("Location"),
        )
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.expired.is_set() or isinstance(exc, TimeoutError):
            raise TransportError(f"No complete response: timed out after {timeout:g} s.") from None
        detail = str(exc) or type(exc).__name__
        raise TransportError(f"{type(exc).__name__}: {detail}") from None
    finally:
        watchdog.cancel()
        connection.close()
