"""The SSRF guard refuses every non-public target, however it is spelled, and checks every address."""

from __future__ import annotations

from typing import Any

import pytest

from ballast.webhooks import ssrf

REFUSED_ADDRESSES = [
    "http://127.0.0.1/",
    "http://127.9.9.9:8080/x",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://169.254.0.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://100.127.255.254/",
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254, hex spelling
    "http://[::ffff:10.1.2.3]/",
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[64:ff9b::192.168.0.1]/",
    "http://[64:ff9b:1::1]/",  # local-use NAT64
    "http://[::7f00:1]/",  # IPv4-compatible (deprecated)
    "http://[2002:7f00:1::1]/",  # 6to4
    "http://[2001::1]/",  # Teredo
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.0.8/",
    "http://192.0.2.10/",  # documentation
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://[2001:db8::1]/",
    "http://[3fff::1]/",
    "http://198.18.0.1/",  # benchmarking
    "http://[100::1]/",  # discard
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",  # short
    "http://0/",
    "http://localhost:8000/",  # a name that resolves to loopback (/etc/hosts)
    "https://LOCALHOST/",
]


@pytest.fixture(autouse=True)
def any_port(settings: Any) -> None:
    """These tests are about addresses and spellings; the port rule has its own (test_ports.py)."""
    settings.WEBHOOK_ALLOWED_PORTS = None


@pytest.mark.parametrize("url", REFUSED_ADDRESSES)
def test_a_url_resolving_to_a_non_public_address_is_refused(url: str) -> None:
    with pytest.raises(
        ssrf.UnsafeURL, match=r"is not a public address .*webhooks only go to public addresses"
    ) as refused:
        ssrf.vet_url(url, allow_private=False)

    assert "resolves to" in refused.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.215.14/", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://93.184.215.14:70/", "Only http and https"),
        ("javascript:alert(1)", "Only http and https"),
        ("//93.184.215.14/", "Only http and https"),
        ("http://user:secret@93.184.215.14/", "user info"),
        ("http://user@93.184.215.14/", "user info"),
        ("http://93.184.215.14@127.0.0.1/", "user info"),
        ("http:///path-only", "no host"),
        ("http://93.184.215.14:99999/", "malformed"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("", "empty"),
        ("http://" + "a" * 2100 + ".com/", "longer than"),
        ("http://[fe80::1%25eth0]/", "zone"),
    ],
)
def test_a_url_of_the_wrong_shape_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ssrf.UnsafeURL, match=reason):
        ssrf.vet_url(url, allow_private=True)  # refused even where private networks are allowed


def test_a_public_address_is_accepted_with_what_the_transport_needs() -> None:
    target = ssrf.vet_url("HTTPS://93.184.215.14/hook?a=1&b=2#fragment", allow_private=False)

    assert (target.scheme, target.host, target.port) == ("https", "93.184.215.14", 443)
    assert target.request_target == "/hook?a=1&b=2"
    assert target.addresses == ("93.184.215.14",)


def test_a_public_ipv6_address_and_a_mapped_public_ipv4_are_accepted() -> None:
    assert ssrf.vet_url("http://[2606:4700::6810:84e5]:8080/x", allow_private=False).port == 8080
    assert ssrf.address_refusal("::ffff:93.184.215.14") is None
    assert ssrf.address_refusal("64:ff9b::5db8:d70e") is None  # NAT64 of 93.184.215.14


def test_a_public_name_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["10.20.30.40"])

    with pytest.raises(ssrf.UnsafeURL) as refused:
        ssrf.vet_url("https://hooks.example.com/in", allow_private=False)

    assert "'hooks.example.com' resolves to 10.20.30.40, a private address" in refused.value.reason
    assert "10.20.30.40" not in str(refused.value)  # the client is not told what the name resolves to


def test_every_resolved_address_is_checked_not_only_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.215.14", "2606:4700::1", "169.254.169.254"])

    with pytest.raises(ssrf.UnsafeURL) as refused:
        ssrf.vet_url("https://hooks.example.com/in", allow_private=False)

    assert "169.254.169.254, a link-local address" in refused.value.reason


def test_a_host_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(ssrf, "resolve", nxdomain)

    with pytest.raises(ssrf.UnsafeURL) as unresolved:
        ssrf.vet_url("https://nowhere.invalid/", allow_private=False)
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["10.0.0.7"])
    with pytest.raises(ssrf.UnsafeURL) as internal:
        ssrf.vet_url("https://nowhere.invalid/", allow_private=False)

    assert "does not resolve" in unresolved.value.reason
    # A tenant cannot tell an internal name from a missing one: both get the same words.
    assert str(unresolved.value) == str(internal.value)


def test_the_allow_flag_lifts_only_the_address_check(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    assert ssrf.vet_url("http://localhost:8000/in").addresses[0] in ("127.0.0.1", "::1")
    with pytest.raises(ssrf.UnsafeURL):
        ssrf.vet_url("http://user@localhost/")

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ssrf.UnsafeURL):
        ssrf.vet_url("http://localhost:8000/in")
