"""Idempotency-Key on mutating API requests: replay, conflicts, scope, concurrency, expiry."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.http import HttpResponse
from django.utils import timezone

from ballast.api import idempotency
from ballast.jobs.models import Job
from ballast.jobs.services import CLIENT_KEY_PREFIX
from ballast.jobs.views import JobListCreateView
from ballast.outbox.models import KEY_COLUMN_LENGTH, MAX_CLIENT_KEY_LENGTH, IdempotencyRecord
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for

JOB = {"job_type": "diagnostics.echo", "payload": {"value": 1}}


def _post(token: str, body: dict | None = None, path: str = "/api/v1/jobs", **headers: Any) -> Any:
    return client_for(token).post(path, body or JOB, format="json", **headers)


def test_a_repeat_replays_the_stored_response_and_does_nothing_else(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)

    first = _post(token, HTTP_IDEMPOTENCY_KEY="k1")
    # Same JSON, other key order and spacing: the same request.
    again = client_for(token).post(
        "/api/v1/jobs",
        '{"payload": {"value": 1},  "job_type": "diagnostics.echo"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )

    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Job.objects.unscoped().count() == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v1/jobs", {**JOB, "payload": {"value": 2}}), ("/api/v1/webhooks", JOB)],
)
def test_the_same_key_with_another_request_is_422(
    tenant: Tenant, make_token: TokenMaker, path: str, body: dict
) -> None:
    token = make_token(tenant)
    _post(token, HTTP_IDEMPOTENCY_KEY="k1")

    response = _post(token, body, path=path, HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Job.objects.unscoped().count() == 1


def test_a_repeat_while_the_first_is_in_flight_is_409(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)
    from ballast.tenants.models import ApiToken

    api_token = ApiToken.objects.unscoped().get(prefix=token[3:15])
    idempotency.begin(
        tenant_id=tenant.pk,
        token_id=api_token.pk,
        key="k1",
        method="POST",
        path="/api/v1/jobs",
        body=b'{"job_type": "diagnostics.echo", "payload": {"value": 1}}',
    )

    response = _post(token, HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 409 and response.json()["code"] == "idempotency_in_flight"
    assert Job.objects.unscoped().count() == 0


def test_keys_are_scoped_to_tenant_and_credential(tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker) -> None:
    responses = [
        _post(make_token(tenant), HTTP_IDEMPOTENCY_KEY="shared"),
        _post(make_token(tenant), HTTP_IDEMPOTENCY_KEY="shared"),
        _post(make_token(other_tenant), HTTP_IDEMPOTENCY_KEY="shared"),
    ]

    # The second credential's request executes (no replay); the job's own tenant-wide key then finds the job.
    assert [r.status_code for r in responses] == [201, 200, 201]
    assert not any(r.has_header("Idempotent-Replayed") for r in responses)
    assert IdempotencyRecord.objects.unscoped().filter(key="shared").count() == 3
    assert Job.objects.unscoped().count() == 2


def test_a_validation_error_is_stored_and_replayed(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)
    bad = {"job_type": "diagnostics.echo", "payload": {}}

    first = _post(token, bad, HTTP_IDEMPOTENCY_KEY="k-bad")
    again = _post(token, bad, HTTP_IDEMPOTENCY_KEY="k-bad")

    assert first.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()


def test_a_forbidden_request_is_not_stored(tenant: Tenant, make_token: TokenMaker) -> None:
    viewer = make_token(tenant, Role.VIEWER)

    refused = _post(viewer, HTTP_IDEMPOTENCY_KEY="k1")

    assert refused.status_code == 403
    assert IdempotencyRecord.objects.unscoped().count() == 0


@pytest.mark.parametrize(
    ("code", "stored"),
    [(201, True), (400, True), (422, True), (401, False), (403, False), (429, False), (500, False), (503, False)],
)
def test_which_responses_are_stored(tenant: Tenant, code: int, stored: bool) -> None:
    claim = idempotency.begin(tenant_id=tenant.pk, token_id=1, key=f"k{code}", method="POST", path="/p", body=b"")

    idempotency.finish(claim, HttpResponse(b"{}", status=code), committed_with_business=False)

    records = IdempotencyRecord.objects.unscoped().filter(key=f"k{code}")
    assert records.filter(status="completed").exists() is stored
    assert records.exists() is stored  # unstored: forgotten, so the client may retry with the key


def test_fifty_concurrent_requests_with_one_key_execute_once(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)
    barrier = threading.Barrier(50)
    codes: list[int] = []

    def fire() -> None:
        try:
            barrier.wait()
            codes.append(_post(token, HTTP_IDEMPOTENCY_KEY="storm").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(codes) == 50
    assert Job.objects.unscoped().count() == 1
    assert set(codes) <= {201, 409} and codes.count(201) >= 1


@pytest.mark.parametrize("key", ["x" * 256, "tab\tinside", "é"])
def test_a_malformed_key_is_400(tenant: Tenant, make_token: TokenMaker, key: str) -> None:
    response = _post(make_token(tenant), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert Job.objects.unscoped().count() == 0


def test_an_expired_key_executes_anew(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)
    _post(token, HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.unscoped().update(expires_at=timezone.now() - timedelta(seconds=1))

    again = _post(token, HTTP_IDEMPOTENCY_KEY="old")

    # Executed again, not replayed: the view ran (and the job's own key found the job: 200, not 201).
    assert again.status_code == 200 and not again.has_header("Idempotent-Replayed")
    assert Job.objects.unscoped().count() == 1
    # The same day: the expired record was revived in place (expired records go with their day's partition:
    # lifecycle/tests/test_idempotency_days.py).
    [record] = IdempotencyRecord.objects.unscoped().filter(key="old")
    assert record.status == "completed" and record.expires_at > timezone.now()


def test_an_endpoint_may_opt_in_to_keys_derived_from_the_content(
    tenant: Tenant, make_token: TokenMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobListCreateView, "idempotency_derive_key", True)
    token = make_token(tenant)

    first, second = _post(token), _post(token)

    assert second["Idempotent-Replayed"] == "true" and second.content == first.content
    assert Job.objects.unscoped().count() == 1


def test_without_a_key_nothing_is_recorded(tenant: Tenant, make_token: TokenMaker) -> None:
    token = make_token(tenant)
    _post(token)
    _post(token)
    assert Job.objects.unscoped().count() == 2
    assert IdempotencyRecord.objects.unscoped().count() == 0


def test_an_operator_can_invalidate_a_key(tenant: Tenant, make_token: TokenMaker) -> None:
    from io import StringIO

    from django.core.management import call_command

    token = make_token(tenant)
    _post(token, HTTP_IDEMPOTENCY_KEY="stuck")
    out = StringIO()

    call_command(
        "idempotency_invalidate", "--tenant", tenant.slug, "--key", "stuck", f"--token-prefix={token[:15]}", stdout=out
    )
    again = _post(token, HTTP_IDEMPOTENCY_KEY="stuck")

    assert "invalidated 1 record" in out.getvalue()
    assert not again.has_header("Idempotent-Replayed")


def test_a_request_whose_key_was_taken_over_stores_nothing_and_is_told_so(tenant: Tenant) -> None:
    first = idempotency.begin(tenant_id=tenant.pk, token_id=1, key="slow", method="POST", path="/p", body=b"")
    # The first request ran past IDEMPOTENCY_LOCK_SECONDS: a repeat takes the key over and finishes first.
    IdempotencyRecord.objects.unscoped().filter(key="slow").update(locked_until=timezone.now() - timedelta(seconds=1))
    second = idempotency.begin(tenant_id=tenant.pk, token_id=1, key="slow", method="POST", path="/p", body=b"")
    assert idempotency.finish(second, HttpResponse(b'{"n": 2}', status=201), committed_with_business=False)

    assert not idempotency.finish(first, HttpResponse(b'{"n": 1}', status=201), committed_with_business=False)
    record = IdempotencyRecord.objects.unscoped().get(key="slow")
    assert bytes(record.response_body) == b'{"n": 2}'  # the late first request overwrote nothing


@pytest.mark.parametrize("path", ["/api/v1/jobs?job_type=%00", "/api/v1/events?correlation_id=a%00b"])
def test_a_nul_byte_in_a_query_parameter_is_a_400_not_a_500(tenant: Tenant, make_token: TokenMaker, path: str) -> None:
    client = client_for(make_token(tenant, Role.VIEWER))

    response = client.get(path)

    assert response.status_code == 400, response.content
    assert "NUL" in response.content.decode()


def test_a_token_over_its_rate_gets_429_with_retry_after_and_nothing_is_stored(
    tenant: Tenant, make_token: TokenMaker, settings: Any
) -> None:
    settings.API_RATE_PER_TOKEN = "3/min"
    client = client_for(make_token(tenant, Role.MEMBER))
    answers = [client.get("/api/v1/jobs").status_code for _ in range(3)]

    refused = _post_with(client, key="k-throttled")

    assert answers == [200, 200, 200]
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert not IdempotencyRecord.objects.unscoped().filter(key="k-throttled").exists()


def _post_with(client: Any, *, key: str) -> Any:
    return client.post(
        "/api/v1/jobs",
        {"job_type": "diagnostics.echo", "payload": {"value": 1}},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_key_of_exactly_the_limit_is_accepted_and_stored_in_full_by_both_stores(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    token = make_token(tenant)
    key = "k" * MAX_CLIENT_KEY_LENGTH

    first = _post(token, HTTP_IDEMPOTENCY_KEY=key)
    again = _post(token, HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == 201, first.json()
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert first.json()["idempotency_key"] == key
    (record,) = IdempotencyRecord.objects.unscoped().all()
    (job,) = Job.objects.unscoped().all()
    assert record.key == key
    assert job.idempotency_key == CLIENT_KEY_PREFIX + key and len(job.idempotency_key) == KEY_COLUMN_LENGTH


@pytest.mark.parametrize("length", [MAX_CLIENT_KEY_LENGTH + 1, KEY_COLUMN_LENGTH - 1, KEY_COLUMN_LENGTH])
def test_a_key_beyond_the_limit_is_a_400_problem_naming_the_limit(
    tenant: Tenant, make_token: TokenMaker, length: int
) -> None:
    response = _post(make_token(tenant), HTTP_IDEMPOTENCY_KEY="k" * length)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and f"1 to {MAX_CLIENT_KEY_LENGTH} printable" in body["detail"]
    assert "Idempotency-Key" in body["errors"]
    assert Job.objects.unscoped().count() == 0 and IdempotencyRecord.objects.unscoped().count() == 0
