"""One HTTP POST to a vetted target (webhooks.ssrf.Target), pinned to its vetted addresses.

- The socket connects to an address the guard checked; the Host header and the TLS server name (SNI and
  certificate check) use the URL's host name. No second DNS lookup, so DNS rebinding cannot redirect it.
- Redirects are never followed (http.client does not follow them); proxies from the environment are
  never used.
- The whole exchange (connect, send, headers, excerpt) has one deadline: a watchdog shuts the socket
  down when it passes, however slowly the receiver drips bytes.
- At most `excerpt_bytes` of the response body are read; the rest is never downloaded.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from webhooks.ssrf import Target

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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, *, timeout: float, deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self._deadline)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, *, timeout: float, deadline: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addresses = target.addresses
        self._deadline = deadline
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self._deadline)
        sock.settimeout(self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


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
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = tls_context or ssl.create_default_context()
        connection = _PinnedHTTPSConnection(target, timeout=timeout, deadline=deadline, context=context)
    else:
        connection = _PinnedHTTPConnection(target, timeout=timeout, deadline=deadline)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; close() alone would not
            except OSError:
                pass

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
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
            excerpt = b""  # the status is the answer; a body cut short only loses its excerpt
        return Response(
            status=response.status,
            excerpt=excerpt,
            retry_after=response.getheader("Retry-After"),
            location=response.getheader("Location"),
        )
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise TransportError(f"No response within {timeout:g} s (timed out).") from None
        detail = str(exc) or type(exc).__name__
        raise TransportError(f"{type(exc).__name__}: {detail}") from None
    finally:
        watchdog.cancel()
        connection.close()
