"""The transport connects to the vetted address while TLS checks the certificate against the URL's host name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.webhooks import ssrf, transport
from ballast.webhooks.tests.conftest import Receiver

NAME = "hooks.example.test"


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={NAME}"]
    command += ["-addext", f"subjectAltName=DNS:{NAME}"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    combined = tmp_path / "server.pem"
    combined.write_text(cert.read_text() + key.read_text())
    return combined


@pytest.fixture
def tls_receiver(certificate: Path) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server = Receiver(tls=context)
    try:
        yield server
    finally:
        server.stop()


def _target(host: str, port: int) -> ssrf.Target:
    return ssrf.Target(
        url=f"https://{host}:{port}/in",
        scheme="https",
        host=host,
        port=port,
        request_target="/in",
        addresses=("127.0.0.1",),  # what the guard vetted; the name itself resolves nowhere
    )


def test_tls_verifies_the_url_host_name_on_the_vetted_address(tls_receiver: Receiver, certificate: Path) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate))

    response = transport.post(_target(NAME, tls_receiver.port), body=b"{}", headers={}, timeout=5, tls_context=trusting)

    assert response.status == 200
    (request,) = tls_receiver.requests
    assert request.headers["Host"] == f"{NAME}:{tls_receiver.port}"


def test_a_certificate_for_another_name_is_refused(tls_receiver: Receiver, certificate: Path) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate))

    with pytest.raises(transport.TransportError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
        transport.post(
            _target("other.example.test", tls_receiver.port), body=b"{}", headers={}, timeout=5, tls_context=trusting
        )
    assert tls_receiver.requests == []


def test_an_untrusted_certificate_is_refused_by_default(tls_receiver: Receiver) -> None:
    with pytest.raises(transport.TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        transport.post(_target(NAME, tls_receiver.port), body=b"{}", headers={}, timeout=5)


def test_a_refused_connection_is_a_transport_error() -> None:
    with pytest.raises(transport.TransportError, match="ConnectionRefusedError"):
        transport.post(_target(NAME, 1), body=b"{}", headers={}, timeout=5)
