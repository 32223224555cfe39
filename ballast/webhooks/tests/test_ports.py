"""Webhook destinations are limited to ports 80 and 443 unless WEBHOOK_ALLOWED_PORTS says otherwise: checked
when an endpoint is created or changed, and again before every delivery."""

from __future__ import annotations

from typing import Any

import pytest

from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.webhooks import ssrf
from ballast.webhooks.tests.conftest import Receiver, delivery_row, make_endpoint, publish, run_attempt

PUBLIC = "93.184.215.14"


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [PUBLIC])


@pytest.mark.usefixtures("public_dns")
@pytest.mark.parametrize(
    "url", ["http://hooks.example.com:22/in", "https://hooks.example.com:6379/", "http://a.example:25"]
)
def test_a_public_host_on_another_port_is_refused_naming_the_rule(url: str) -> None:
    with pytest.raises(ssrf.UnsafeURL, match=r"port (22|6379|25) is not allowed.*80, 443.*WEBHOOK_ALLOWED_PORTS"):
        ssrf.vet_url(url)


@pytest.mark.usefixtures("public_dns")
@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/in", "https://hooks.example.com:443/", "http://a.example:80"]
)
def test_ports_80_and_443_are_allowed_by_default(url: str) -> None:
    assert ssrf.vet_url(url).port in (80, 443)


@pytest.mark.usefixtures("public_dns")
def test_webhook_allowed_ports_widens_or_lifts_the_rule(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_PORTS = [443, 8443]
    assert ssrf.vet_url("https://hooks.example.com:8443/").port == 8443
    with pytest.raises(ssrf.UnsafeURL, match="port 80 is not allowed"):
        ssrf.vet_url("http://hooks.example.com/")
    settings.WEBHOOK_ALLOWED_PORTS = None  # "*": any port
    assert ssrf.vet_url("http://hooks.example.com:6379/").port == 6379


@pytest.mark.usefixtures("public_dns")
def test_creating_an_endpoint_on_a_refused_port_is_a_400_on_url(tenant: Tenant, make_token: TokenMaker) -> None:
    admin = client_for(make_token(tenant, Role.ADMIN))

    response = admin.post("/api/v1/webhooks", {"url": "https://hooks.example.com:22/in"}, format="json")

    assert response.status_code == 400 and "port 22 is not allowed" in response.json()["errors"]["url"][0]


def test_a_delivery_is_refused_when_its_port_is_no_longer_allowed(
    tenant: Tenant, receiver: Receiver, settings: Any, private_networks: None
) -> None:
    settings.WEBHOOK_ALLOWED_PORTS = None
    make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)
    settings.WEBHOOK_ALLOWED_PORTS = [80, 443]

    run_attempt(delivery.pk, 1)

    assert receiver.requests == []
    row = delivery_row(delivery.pk)
    assert "Refused before sending" in row.last_error and f"port {receiver.port} is not allowed" in row.last_error


def test_the_settings_read_ports_or_a_star(monkeypatch: pytest.MonkeyPatch) -> None:
    from ballast.settings.webhooks import allowed_ports

    assert allowed_ports(["80", "443"]) == [80, 443]
    assert allowed_ports(["*"]) is None
    for bad in (["http"], ["0"], ["70000"], []):
        with pytest.raises(Exception, match="WEBHOOK_ALLOWED_PORTS"):
            allowed_ports(bad)
