"""The SSRF guard: which URLs a webhook may target, and the addresses it may connect to.

`vet_url(url)` parses the URL, resolves its host with the system resolver and checks every address it
resolves to; it returns a `Target` carrying those vetted addresses, or raises `UnsafeURL` with the reason.
The transport (webhooks.transport) connects to a vetted address only, never resolving the name again, so
DNS rebinding cannot swap a public address for a private one between the check and the connection.

Rules: http and https only; no user info; the host must resolve, and every address it resolves to must be
public unicast. A refusal tells the client "not a public address" and never the address a name resolved
to (operators find it in the log and in `UnsafeURL.reason`). Numeric spellings the resolver accepts
(`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`, `127.1`) are caught because the check runs on the resolved
addresses, not on the spelling.
IPv6 forms that embed an IPv4 address (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`) are judged by that address.
WEBHOOK_ALLOW_PRIVATE_NETWORKS=true lifts the address check (dev and tests; refused in prod).
The port must be one of WEBHOOK_ALLOWED_PORTS (80 and 443 unless it says otherwise; "*" allows any): a public
host's SSH, SMTP or Redis port is not a webhook receiver.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
SCHEMES = {"http": 80, "https": 443}


class UnsafeURL(ValueError):
    """The URL may not be a webhook target. The message is shown to API clients; `reason` may say more
    (which address a name resolved to) and is for operators' logs only."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def _not_public(host: str, reason: str) -> UnsafeURL:
    # One answer whether the name resolves to an internal address or not at all: a tenant learns neither what
    # internal names resolve to nor which exist.
    logger.info("webhook target refused: %r %s", host, reason)
    return UnsafeURL(
        f"The host {host!r} is not a public address (or does not resolve); webhooks only go to public addresses.",
        reason=f"The host {host!r} {reason}",
    )


@dataclass(frozen=True)
class Target:
    """A vetted URL: connect to one of `addresses`; send `host` as Host header and TLS server name."""

    url: str
    scheme: str
    host: str
    port: int
    request_target: str  # path and query, as sent on the request line
    addresses: tuple[str, ...]


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# (network, what it is), most specific first where they nest. Checked before the generic rules so that
# the reason a client sees names the range.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address (cloud metadata lives here)"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a reserved (6to4 relay) address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("2001::/23"), "an IETF protocol assignment (Teredo, ORCHID ...) address"),
    (_V6("2002::/16"), "a 6to4 address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("fc00::/7"), "a unique local (private) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)
_NAT64 = _V6("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = _V6("2000::/3")


def address_refusal(address: str | IPAddress) -> str | None:
    """Why a connection to this address is refused, or None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    shown = str(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None  # NAT64: the last 32 bits
        )
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"{shown}, which embeds {embedded}, {reason.split(', ', 1)[-1]}" if reason else None
        for network6, what6 in _REFUSED_V6:
            if ip in network6:
                return f"{shown}, {what6}"
        if ip not in _GLOBAL_UNICAST_V6:
            return f"{shown}, not a global unicast address"
    else:
        for network4, what4 in _REFUSED_V4:
            if ip in network4:
                return f"{shown}, {what4}"
    if not ip.is_global or ip.is_multicast or ip.is_reserved:  # what the tables above may not know yet
        return f"{shown}, not a public unicast address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IP literals and numeric spellings included).
    Tests may monkeypatch this one function to simulate DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) of an acceptable URL; UnsafeURL otherwise. No DNS."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL("The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise UnsafeURL("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"The URL is malformed: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeURL("Only http and https URLs are allowed.")
    if "@" in parts.netloc:
        raise UnsafeURL("The URL may not carry user info (user:password@).")
    host = parts.hostname
    if not host:
        raise UnsafeURL("The URL has no host.")
    if "%" in host:
        raise UnsafeURL("The URL may not name an IPv6 zone.")
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or SCHEMES[scheme], request_target


def vet_url(url: str, *, allow_private: bool | None = None) -> Target:
    """Parse, check the port, resolve and check the addresses; raise UnsafeURL (its `reason` names the first
    refused address).
    `allow_private` defaults to settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS."""
    scheme, host, port, request_target = parse(url)
    ports = settings.WEBHOOK_ALLOWED_PORTS
    if ports is not None and port not in ports:
        allowed = ", ".join(str(allowed_port) for allowed_port in ports)
        raise UnsafeURL(f"The port {port} is not allowed: webhooks go to ports {allowed} (WEBHOOK_ALLOWED_PORTS).")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise _not_public(host, f"does not resolve ({exc}).") from None
    if not addresses:
        raise _not_public(host, "resolves to no address.")
    if allow_private is None:
        allow_private = bool(settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise _not_public(host, f"resolves to {reason}.")
    return Target(
        url=url, scheme=scheme, host=host, port=port, request_target=request_target, addresses=tuple(addresses)
    )
