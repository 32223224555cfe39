"""A client's mistake is a 4xx problem document naming the problem, never an HTML page, a 404 for a bad
cursor or a 500: bad cursors, unknown routes and methods, unknown query parameters, oversized and too-deep
bodies."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from ballast.api.problem_details import PROBLEM_TYPE_BASE, problem_types
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import ApiToken, Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.webhooks.services import create_endpoint

PROBLEM = "application/problem+json"
LIST_PATHS = [
    "/api/v1/jobs",
    "/api/v1/dead-letters",
    "/api/v1/events",
    "/api/v1/uploads",
    "/api/v1/uploads/cleanup-runs",
    "/api/v1/documents",
    "/api/v1/trash",
    "/api/v1/webhooks/{endpoint}/deliveries",
    "/api/v1/emails",
    "/api/v1/schedules",
]


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"{PROBLEM_TYPE_BASE}{slug}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.fixture
def admin(tenant: Tenant, make_token: TokenMaker, settings: Any) -> APIClient:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOWED_PORTS = None
    return client_for(make_token(tenant, Role.ADMIN))


@pytest.fixture
def endpoint_id(tenant: Tenant, admin: APIClient) -> int:
    with tenant_scope(tenant.pk):
        return create_endpoint(url="http://127.0.0.1:9/hook").endpoint.pk


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", base64.b64encode(b"p=abc").decode(), base64.b64encode(b"p=" + b"9" * 30).decode(), "\u00e9"],
)
def test_a_bad_or_forged_cursor_is_a_400(admin: APIClient, endpoint_id: int, path: str, cursor: str) -> None:
    response = admin.get(path.format(endpoint=endpoint_id) + f"?cursor={cursor}")

    body = problem(response, 400, "invalid-cursor")
    assert body["code"] == "invalid_cursor"


@pytest.mark.parametrize("path", LIST_PATHS)
def test_page_size_is_bounded_and_a_bad_one_is_a_400(admin: APIClient, endpoint_id: int, path: str) -> None:
    url = path.format(endpoint=endpoint_id)
    assert admin.get(url + "?page_size=1").status_code == 200
    for bad in ("0", "abc", "100000"):
        body = problem(admin.get(url + f"?page_size={bad}"), 400, "invalid")
        assert list(body["errors"]) == ["page_size"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/jobs/", "/api/v1/jobs/1/", "/api/v1/me/", "/api/elsewhere"])
def test_unknown_routes_and_trailing_slashes_are_problem_404s(
    admin: APIClient, settings: Any, debug: bool, path: str
) -> None:
    settings.DEBUG = debug

    for method in ("get", "post", "delete"):
        problem(getattr(admin, method)(path), 404, "not-found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/api/v1/jobs", "GET, POST"),
        ("put", "/api/v1/jobs/1/cancel", "POST"),
        ("put", "/api/v1/batches/1", "GET"),
        ("get", "/api/v1/batches/1/cancel", "POST"),
        ("delete", "/api/v1/me", "GET"),
        ("get", "/api/v1/queue/process", "POST"),
    ],
)
def test_a_wrong_method_is_a_405_with_allow(admin: APIClient, method: str, path: str, allow: str) -> None:
    response = getattr(admin, method)(path, {"x": 1}, format="json")

    problem(response, 405, "method-not-allowed")
    allowed = {name.strip() for name in response["Allow"].split(",")} - {"HEAD", "OPTIONS"}
    assert allowed == set(allow.split(", "))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs?colour=red&status=queued",
        "/api/v1/me?colour=red",
        "/api/v1/jobs/1?colour=red",
        "/api/v1/batches/1?colour=red",
        "/api/v1/tokens?colour=red",
    ],
)
def test_unknown_query_parameters_are_a_400_naming_them(admin: APIClient, path: str) -> None:
    body = problem(admin.get(path), 400, "invalid")

    assert list(body["errors"]) == ["colour"]


def test_an_unknown_job_type_is_reported_under_job_type(admin: APIClient) -> None:
    body = problem(admin.post("/api/v1/jobs", {"job_type": "nope", "payload": {}}, format="json"), 400, "invalid")

    assert list(body["errors"]) == ["job_type"]


def test_a_payload_that_is_not_an_object_is_a_400(admin: APIClient) -> None:
    body = problem(
        admin.post("/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": [1]}, format="json"), 400, "invalid"
    )

    assert list(body["errors"]) == ["payload"]


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/webhooks", "/api/v1/uploads"])
def test_a_body_over_the_limit_is_a_413(admin: APIClient, path: str) -> None:
    big = b'{"payload": "' + b"x" * (3 << 20) + b'"}'

    body = problem(admin.post(path, big, content_type="application/json"), 413, "request-too-large")

    assert str(django_settings.API_MAX_BODY_BYTES) in body["detail"]


@pytest.mark.parametrize("depth", [django_settings.API_MAX_JSON_DEPTH + 1, 50_000])
def test_json_nested_too_deep_is_a_400(admin: APIClient, depth: int) -> None:
    nested = '{"job_type": "diagnostics.echo", "payload": {"value": ' + "[" * depth + "]" * depth + "}}"

    problem(admin.post("/api/v1/jobs", nested, content_type="application/json"), 400, "json-too-deep")
    # With an Idempotency-Key the body is fingerprinted too: still a 400.
    keyed = admin.post("/api/v1/jobs", nested, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep")
    problem(keyed, 400, "json-too-deep")


def test_json_nested_up_to_the_limit_is_accepted(admin: APIClient) -> None:
    depth = django_settings.API_MAX_JSON_DEPTH - 3  # the body, payload and value objects are levels too
    nested = '{"job_type": "diagnostics.echo", "payload": {"value": ' + "[" * depth + "]" * depth + "}}"

    assert admin.post("/api/v1/jobs", nested, content_type="application/json").status_code == 201


def test_malformed_json_names_its_problem(admin: APIClient) -> None:
    problem(admin.post("/api/v1/jobs", "{nope", content_type="application/json"), 400, "parse-error")


def test_problems_without_a_token_and_for_a_viewer_name_their_type(tenant: Tenant, make_token: TokenMaker) -> None:
    problem(APIClient().get("/api/v1/jobs"), 401, "not-authenticated")
    problem(client_for("bl_" + "a" * 12 + "_" + "b" * 43).get("/api/v1/jobs"), 401, "invalid-token")
    viewer = client_for(make_token(tenant, Role.VIEWER))
    problem(
        viewer.post("/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": {}}, format="json"),
        403,
        "permission-denied",
    )


def test_a_token_cannot_revoke_itself(tenant: Tenant, make_token: TokenMaker) -> None:
    plaintext = make_token(tenant, Role.ADMIN)
    client = client_for(plaintext)
    own = client.get("/api/v1/me").json()["token"]["id"]

    problem(client.delete(f"/api/v1/tokens/{own}"), 409, "token-in-use")

    assert ApiToken.objects.unscoped().get(pk=own).revoked_at is None
    assert client.get("/api/v1/me").status_code == 200


def test_every_problem_type_is_documented_with_its_status() -> None:
    text = (Path(django_settings.BASE_DIR) / "docs" / "api-problems.md").read_text()
    headings = dict(re.findall(r"^## `([a-z0-9-]+)` \u2014 ([0-9, ]+)$", text, flags=re.MULTILINE))

    registered = {kind.slug: ", ".join(map(str, kind.statuses)) for kind in problem_types()}
    assert headings == registered
    for slug in registered:
        assert f'"type": "{PROBLEM_TYPE_BASE}{slug}"' in text, f"{slug} has no example body"


DRF_CODES = {
    "invalid",
    "parse_error",
    "authentication_failed",
    "not_authenticated",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "throttled",
}


def test_every_code_the_api_answers_with_has_a_problem_type() -> None:
    codes = set(DRF_CODES)
    for path in (Path(django_settings.BASE_DIR) / "ballast").rglob("*.py"):
        if "tests" in path.parts:
            continue
        text = path.read_text()
        codes |= set(re.findall(r'(?:default_code|\bcode) = "(\w+)"', text))
        codes |= set(re.findall(r'\bcode="(\w+)"', text))
        codes |= set(re.findall(r'Refused\(\s*\d+,\s*"(\w+)"', text))

    registered = {code for kind in problem_types() for code in kind.all_codes}
    assert codes - registered == set()


def test_an_accept_header_without_json_is_a_problem_406(admin: APIClient) -> None:
    problem(admin.get("/api/v1/jobs", HTTP_ACCEPT="text/html"), 406, "not-acceptable")
