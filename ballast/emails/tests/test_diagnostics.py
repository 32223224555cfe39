"""The email preflight check and its place in /readyz, against a real aiosmtpd server and a closed port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.contrib.auth import get_user_model
from django.test import Client

from ballast.api import health
from ballast.emails.tests.conftest import Mailbox, unused_port
from ballast.lib import preflight

SMTP_BACKEND = "ballast.emails.backends.SMTPEmailBackend"


@dataclass
class CountingServer:
    """Counts the EHLOs it answers, so a test can tell whether the check ran."""

    ehlos: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlos += 1
        session.host_name = hostname
        return responses


def _accept_ada(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"ada", b"right")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def counting_server() -> Iterator[tuple[CountingServer, int]]:
    handler = CountingServer()
    controller = Controller(handler, hostname="127.0.0.1", port=unused_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def auth_server() -> Iterator[int]:
    controller = Controller(
        Mailbox(), hostname="127.0.0.1", port=unused_port(), authenticator=_accept_ada, auth_require_tls=False
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def _point_at(settings: Any, port: int, **extra: Any) -> None:
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    for name, value in extra.items():
        setattr(settings, name, value)


def _email_check() -> preflight.Result:
    (check,) = [check for check in preflight.registered_checks() if check.name == "email"]
    return preflight.run(check)


def test_the_check_passes_when_the_smtp_server_answers_ehlo(settings: Any, mailbox: Mailbox) -> None:
    _point_at(settings, mailbox.port)  # type: ignore[attr-defined]

    result = _email_check()

    assert result.ok, result.detail
    assert result.detail == f"SMTP server 127.0.0.1:{mailbox.port} answers (EHLO)"  # type: ignore[attr-defined]


def test_a_closed_port_fails_the_check_in_one_line_naming_host_and_port(settings: Any) -> None:
    port = unused_port()
    _point_at(settings, port)

    result = _email_check()

    assert not result.ok
    assert result.detail == f"cannot connect to SMTP server 127.0.0.1:{port}: Connection refused"


def test_starttls_configured_on_a_server_without_it_says_so(settings: Any, mailbox: Mailbox) -> None:
    _point_at(settings, mailbox.port, EMAIL_USE_TLS=True)  # type: ignore[attr-defined]

    result = _email_check()

    assert not result.ok and "does not offer STARTTLS (EMAIL_USE_TLS is on)" in result.detail


def test_the_login_is_tried_and_a_wrong_password_is_named(settings: Any, auth_server: int) -> None:
    _point_at(settings, auth_server, EMAIL_HOST_USER="ada", EMAIL_HOST_PASSWORD="right")
    assert _email_check().detail == f"SMTP server 127.0.0.1:{auth_server} answers (EHLO, login as ada)"

    settings.EMAIL_HOST_PASSWORD = "wrong"
    result = _email_check()

    assert not result.ok
    assert result.detail.startswith(f"SMTP server 127.0.0.1:{auth_server} rejected the login of ada: 535")
    assert "\n" not in result.detail


def test_a_login_configured_on_a_server_without_auth_says_so(settings: Any, mailbox: Mailbox) -> None:
    _point_at(settings, mailbox.port, EMAIL_HOST_USER="ada", EMAIL_HOST_PASSWORD="x")  # type: ignore[attr-defined]

    assert "offers no AUTH, but EMAIL_HOST_USER is set" in _email_check().detail


def test_a_backend_that_is_not_smtp_passes_without_a_connection(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"

    result = _email_check()

    assert result.ok and "no SMTP server to check" in result.detail


@pytest.mark.usefixtures("committed")
def test_readyz_shows_the_smtp_diagnosis_to_staff_only_and_caches_it(
    settings: Any, counting_server: tuple[CountingServer, int]
) -> None:
    server, port = counting_server
    _point_at(settings, port)
    settings.HEALTH_TOKEN = "health-token-for-tests-0123456789"
    settings.HEALTH_CACHE_SECONDS = 60
    health.forget_cached_checks()
    try:
        anonymous = Client().get("/readyz").json()
        assert "diagnostics" not in anonymous and server.ehlos == 0

        token = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456789")
        staff = get_user_model().objects.create_user("ops", password="pw-for-tests-only", is_staff=True)
        session = Client()
        session.force_login(staff)
        again = session.get("/readyz").json()
    finally:
        health.forget_cached_checks()

    assert token.status_code == 200
    expected = {"ok": True, "detail": f"SMTP server 127.0.0.1:{port} answers (EHLO)"}
    assert token.json()["diagnostics"]["email"] == expected
    assert again["diagnostics"] == token.json()["diagnostics"]
    assert server.ehlos == 1  # the second staff probe reused the cached diagnosis


@pytest.mark.usefixtures("committed")
def test_a_failing_smtp_server_is_reported_without_failing_readiness(settings: Any) -> None:
    port = unused_port()
    _point_at(settings, port)
    settings.HEALTH_TOKEN = "health-token-for-tests-0123456789"
    health.forget_cached_checks()
    try:
        response = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer health-token-for-tests-0123456789")
    finally:
        health.forget_cached_checks()

    assert response.status_code == 200 and response.json()["status"] == "ready"
    assert response.json()["diagnostics"]["email"] == {
        "ok": False,
        "detail": f"cannot connect to SMTP server 127.0.0.1:{port}: Connection refused",
    }
