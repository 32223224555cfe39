"""The API resolves the tenant from the credential; errors are problem details."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import ApiToken, Role, Tenant
from ballast.tenants.services import set_tenant_status
from ballast.tenants.tests.conftest import client_for

PROBLEM = "application/problem+json"


def test_me_answers_the_credentials_user_tenant_and_role(tenant_a: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant_a, Role.ADMIN)

    response = client_for(token).get("/api/v1/me")

    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == {"id": tenant_a.pk, "slug": "alpha", "name": tenant_a.name, "status": "active"}
    assert body["role"] == "admin"
    assert body["user"]["username"].startswith("alpha-admin")
    assert body["token"]["prefix"] == token[:15]


def test_the_token_keyword_is_accepted_as_well_as_bearer(tenant_a: Tenant, make_token: TokenMaker) -> None:
    response = client_for(make_token(tenant_a), keyword="Token").get("/api/v1/me")
    assert response.status_code == 200


def test_an_object_of_another_tenant_answers_404_not_403(
    tenant_a: Tenant, tenant_b: Tenant, make_token: TokenMaker
) -> None:
    token_a = make_token(tenant_a)
    make_token(tenant_b)
    theirs = ApiToken.objects.unscoped().get(tenant=tenant_b)
    ours = ApiToken.objects.unscoped().get(tenant=tenant_a)

    response = client_for(token_a).get(f"/api/v1/tokens/{theirs.pk}")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert client_for(token_a).get(f"/api/v1/tokens/{ours.pk}").status_code == 200


def test_a_list_shows_only_the_credentials_tenant(tenant_a: Tenant, tenant_b: Tenant, make_token: TokenMaker) -> None:
    token_a = make_token(tenant_a)
    make_token(tenant_b)
    make_token(tenant_b)

    response = client_for(token_a).get("/api/v1/tokens")

    assert response.status_code == 200
    assert [row["prefix"] for row in response.json()] == [token_a[:15]]


@pytest.mark.usefixtures("committed")
@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer", "malformed_token"),
        ("Bearer not-a-ballast-token", "malformed_token"),
        ("Bearer bl_abc_def", "malformed_token"),
        ("Bearer a b", "malformed_token"),
        ("Bearer bl_AAAAAAAAAAAA_" + "x" * 43, "invalid_token"),
    ],
)
def test_a_malformed_or_unknown_token_gets_401_with_the_reason(header: str, code: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["code"] == code and body["detail"]


@pytest.mark.usefixtures("committed")
def test_no_credential_gets_401() -> None:
    response = APIClient().get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."


def test_a_revoked_token_gets_401(tenant_a: Tenant, make_token: TokenMaker) -> None:
    admin = make_token(tenant_a, Role.ADMIN)
    victim = make_token(tenant_a)
    victim_id = ApiToken.objects.unscoped().get(prefix=victim[3:15]).pk

    revoked = client_for(admin).delete(f"/api/v1/tokens/{victim_id}")
    response = client_for(victim).get("/api/v1/me")

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_a_suspended_tenant_gets_403_on_every_call(tenant_a: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant_a, Role.ADMIN)
    set_tenant_status(tenant=tenant_a, status=Tenant.Status.SUSPENDED)

    responses = [client_for(token).get("/api/v1/me"), client_for(token).get("/api/v1/tokens")]

    for response in responses:
        assert response.status_code == 403
        assert response.json()["code"] == "tenant_suspended"
        assert "alpha" in response.json()["detail"]


def test_a_viewer_may_read_but_not_write(tenant_a: Tenant, make_token: TokenMaker) -> None:
    viewer = make_token(tenant_a, Role.VIEWER)
    token_id = ApiToken.objects.unscoped().get(prefix=viewer[3:15]).pk

    assert client_for(viewer).get("/api/v1/me").status_code == 200
    response = client_for(viewer).delete(f"/api/v1/tokens/{token_id}")

    assert response.status_code == 403
    assert ApiToken.objects.unscoped().get(pk=token_id).revoked_at is None


def test_an_unknown_api_route_answers_problem_json(committed: None) -> None:
    response = APIClient().get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


@pytest.mark.usefixtures("committed")
def test_the_openapi_schema_and_docs_are_served_with_local_assets() -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    docs = APIClient().get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/me" in schema.json()["paths"]
    assert schema.json()["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert docs.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
    assert b"cdn." not in docs.content
