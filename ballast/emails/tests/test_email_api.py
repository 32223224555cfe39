"""A delivery records its type, the object it is about and metadata; tenants read their own deliveries at
GET /api/v1/emails (filtered by status and type, newest first, cursor-paginated)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from ballast.emails.models import EmailDelivery
from ballast.emails.services import InvalidEmail, send_email
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for


def _send(tenant: Tenant, subject: str, **extra: Any) -> EmailDelivery:
    return send_email(tenant=tenant, to=["ada@example.com"], subject=subject, body="Hello", **extra)


@pytest.fixture
def viewer(tenant: Tenant, make_token: TokenMaker) -> APIClient:
    return client_for(make_token(tenant, Role.VIEWER))


def test_a_delivery_records_its_type_related_object_and_metadata(tenant: Tenant) -> None:
    delivery = _send(
        tenant,
        "Your invoice",
        email_type="billing.invoice",
        related=("invoice", 42),
        metadata={"amount_cents": 1200, "locale": "de"},
    )

    row = EmailDelivery.objects.unscoped().get(pk=delivery.pk)
    assert (row.email_type, row.related_type, row.related_id) == ("billing.invoice", "invoice", "42")
    assert row.metadata == {"amount_cents": 1200, "locale": "de"}
    plain = EmailDelivery.objects.unscoped().get(pk=_send(tenant, "Hi").pk)
    assert (plain.email_type, plain.related_type, plain.related_id, plain.metadata) == ("message", "", "", {})


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"email_type": "Not A Type"}, "email_type"),
        ({"email_type": "x" * 101}, "email_type"),
        ({"related": ("invoice",)}, "related"),
        ({"related": ("", 1)}, "related"),
        ({"metadata": ["a list"]}, "metadata"),
        ({"metadata": {"blob": "x" * 9000}}, "metadata"),
    ],
)
def test_bad_type_related_or_metadata_is_refused_naming_it(tenant: Tenant, extra: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidEmail, match=says):
        _send(tenant, "Hi", **extra)
    assert not EmailDelivery.objects.unscoped().exists()


def test_tenants_list_their_own_deliveries_newest_first_filtered_and_paginated(
    tenant: Tenant, other_tenant: Tenant, viewer: APIClient
) -> None:
    welcome = _send(tenant, "Welcome", email_type="account.welcome", related=("user", 7), metadata={"plan": "pro"})
    reset = _send(tenant, "Reset", email_type="account.password_reset")
    third = _send(tenant, "Third", email_type="account.welcome")
    EmailDelivery.objects.unscoped().filter(pk=reset.pk).update(status="sent")
    _send(other_tenant, "Theirs", email_type="account.welcome")

    everything = viewer.get("/api/v1/emails")
    welcomes = viewer.get("/api/v1/emails?type=account.welcome")
    sent = viewer.get("/api/v1/emails?status=sent")
    first_page = viewer.get("/api/v1/emails?page_size=2").json()
    second_page = viewer.get(first_page["next"]).json()

    assert everything.status_code == 200
    assert [row["id"] for row in everything.json()["results"]] == [third.pk, reset.pk, welcome.pk]
    assert [row["id"] for row in welcomes.json()["results"]] == [third.pk, welcome.pk]
    assert [row["id"] for row in sent.json()["results"]] == [reset.pk]
    assert [row["id"] for row in first_page["results"] + second_page["results"]] == [third.pk, reset.pk, welcome.pk]
    shown = everything.json()["results"][2]
    assert shown["type"] == "account.welcome" and shown["related"] == {"type": "user", "id": "7"}
    assert shown["metadata"] == {"plan": "pro"} and shown["to"] == ["ada@example.com"]
    assert shown["status"] == "pending" and shown["subject"] == "Welcome" and shown["message_id"]
    assert "body" not in shown  # bodies may hold links that act for their recipient
    assert everything.json()["results"][1]["related"] is None


def test_one_delivery_is_read_by_id_and_another_tenants_is_not_found(
    tenant: Tenant, other_tenant: Tenant, viewer: APIClient
) -> None:
    mine = _send(tenant, "Mine")
    theirs = _send(other_tenant, "Theirs")

    assert viewer.get(f"/api/v1/emails/{mine.pk}").json()["subject"] == "Mine"
    missing = viewer.get(f"/api/v1/emails/{theirs.pk}")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json"


def test_a_bad_filter_is_a_400_naming_it(viewer: APIClient) -> None:
    bad_status = viewer.get("/api/v1/emails?status=lost")
    bad_type = viewer.get("/api/v1/emails?type=" + "x" * 101)

    assert bad_status.status_code == 400 and list(bad_status.json()["errors"]) == ["status"]
    assert bad_type.status_code == 400 and list(bad_type.json()["errors"]) == ["type"]


def test_the_schema_describes_the_emails_endpoints(viewer: APIClient) -> None:
    schema = APIClient().get("/api/schema/?format=json").json()

    listing = schema["paths"]["/api/v1/emails"]["get"]
    assert listing["tags"] == ["emails"] and listing["operationId"] == "v1_emails_list"
    assert {parameter["name"] for parameter in listing["parameters"]} >= {"cursor", "page_size", "status", "type"}
    assert "application/problem+json" in listing["responses"]["400"]["content"]
    assert schema["paths"]["/api/v1/emails/{delivery_id}"]["get"]["tags"] == ["emails"]
    assert "emails" in {tag["name"] for tag in schema["tags"]}
