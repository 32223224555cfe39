"""The webhooks API: CRUD per tenant, the secret shown once, URLs vetted, deliveries readable."""

from __future__ import annotations

import pytest

from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import AuditEntry, Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.webhooks.models import WebhookDelivery, WebhookEndpoint
from ballast.webhooks.tests.conftest import make_endpoint, publish

PROBLEM = "application/problem+json"
PUBLIC = "https://93.184.215.14/hooks"


def test_create_shows_the_secret_once_and_never_again(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))

    created = client.post("/api/v1/webhooks", {"url": PUBLIC, "event_types": ["job.*"]}, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["url"] == PUBLIC and body["event_types"] == ["job.*"] and body["enabled"] is True
    detail = client.get(f"/api/v1/webhooks/{body['id']}").json()
    listed = client.get("/api/v1/webhooks").json()
    assert "secret" not in detail and all("secret" not in row for row in listed)
    assert WebhookEndpoint.objects.unscoped().get(pk=body["id"]).secret == body["secret"]
    audit = AuditEntry.objects.unscoped().get(action="webhook.endpoint_created")
    assert audit.target_id == str(body["id"]) and body["secret"] not in str(audit.data)


def test_patch_put_and_delete(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    endpoint_id = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json").json()["id"]

    patched = client.patch(f"/api/v1/webhooks/{endpoint_id}", {"event_types": ["job.failed"]}, format="json")
    replaced = client.put(
        f"/api/v1/webhooks/{endpoint_id}", {"url": "https://93.184.215.15/new", "description": "ops"}, format="json"
    )
    deleted = client.delete(f"/api/v1/webhooks/{endpoint_id}")

    assert patched.status_code == 200 and patched.json()["event_types"] == ["job.failed"]
    assert patched.json()["url"] == PUBLIC
    assert replaced.status_code == 200
    assert (replaced.json()["url"], replaced.json()["description"]) == ("https://93.184.215.15/new", "ops")
    assert replaced.json()["event_types"] == []  # PUT: what is not given takes its default
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404
    endpoint_entries = AuditEntry.objects.unscoped().filter(target_type="webhook_endpoint").order_by("id")
    actions = list(endpoint_entries.values_list("action", flat=True))
    assert actions == [
        "webhook.endpoint_created",
        "webhook.endpoint_updated",
        "webhook.endpoint_updated",
        "webhook.endpoint_deleted",
    ]


def test_enabling_again_starts_a_fresh_failure_streak(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    endpoint_id = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json").json()["id"]
    WebhookEndpoint.objects.unscoped().filter(pk=endpoint_id).update(
        enabled=False, disabled_reason="gone", consecutive_failures=9
    )

    enabled = client.patch(f"/api/v1/webhooks/{endpoint_id}", {"enabled": True}, format="json").json()
    disabled = client.patch(f"/api/v1/webhooks/{endpoint_id}", {"enabled": False}, format="json").json()

    assert (enabled["enabled"], enabled["disabled_reason"], enabled["consecutive_failures"]) == (True, "", 0)
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "manual")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"url": "http://127.0.0.1/hooks"}, "url", "not a public address"),
        ({"url": "http://93.184.215.14:6379/"}, "url", "port 6379 is not allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "not a public address"),
        ({"url": "http://0x7f.0.0.1/"}, "url", "not a public address"),
        ({"url": "ftp://93.184.215.14/"}, "url", "Only http and https"),
        ({"url": "https://user:pw@93.184.215.14/"}, "url", "user info"),
        ({}, "url", "required"),
        ({"url": PUBLIC, "event_types": ["job succeeded"]}, "event_types", "Not an event type"),
        ({"url": PUBLIC, "event_types": "job.*"}, "event_types", "list"),
        ({"url": PUBLIC, "secret": "whsec_mine"}, "secret", "Unknown field"),
    ],
)
def test_a_bad_endpoint_gets_400_with_the_reason(
    tenant: Tenant, make_token: TokenMaker, body: dict, field: str, reason: str
) -> None:
    response = client_for(make_token(tenant)).post("/api/v1/webhooks", body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert reason in " ".join(response.json()["errors"][field])
    assert WebhookEndpoint.objects.unscoped().count() == 0


def test_a_patch_to_an_unsafe_url_is_refused_and_changes_nothing(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    endpoint_id = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json").json()["id"]

    response = client.patch(f"/api/v1/webhooks/{endpoint_id}", {"url": "http://[::1]/"}, format="json")

    assert response.status_code == 400 and "not a public address" in response.json()["errors"]["url"][0]
    assert WebhookEndpoint.objects.unscoped().get(pk=endpoint_id).url == PUBLIC


def test_another_tenants_endpoint_answers_404(tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker) -> None:
    theirs, _ = make_endpoint(other_tenant, PUBLIC)
    client = client_for(make_token(tenant, Role.ADMIN))

    assert client.get(f"/api/v1/webhooks/{theirs.pk}").status_code == 404
    assert client.patch(f"/api/v1/webhooks/{theirs.pk}", {"enabled": False}, format="json").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{theirs.pk}").status_code == 404
    assert client.get(f"/api/v1/webhooks/{theirs.pk}/deliveries").status_code == 404
    assert client.get("/api/v1/webhooks").json() == []
    assert WebhookEndpoint.objects.unscoped().get(pk=theirs.pk).enabled is True


def test_a_viewer_reads_but_cannot_write(tenant: Tenant, make_token: TokenMaker) -> None:
    endpoint, _ = make_endpoint(tenant, PUBLIC)
    viewer = client_for(make_token(tenant, Role.VIEWER))

    assert viewer.get("/api/v1/webhooks").status_code == 200
    assert viewer.get(f"/api/v1/webhooks/{endpoint.pk}").status_code == 200
    assert viewer.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").status_code == 200
    assert viewer.post("/api/v1/webhooks", {"url": PUBLIC}, format="json").status_code == 403
    assert viewer.patch(f"/api/v1/webhooks/{endpoint.pk}", {"enabled": False}, format="json").status_code == 403
    assert viewer.put(f"/api/v1/webhooks/{endpoint.pk}", {"url": PUBLIC}, format="json").status_code == 403
    assert viewer.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 403
    assert WebhookEndpoint.objects.unscoped().count() == 1


def test_deliveries_are_listed_newest_first_and_filtered_by_status(tenant: Tenant, make_token: TokenMaker) -> None:
    endpoint, _ = make_endpoint(tenant, PUBLIC)
    other, _ = make_endpoint(tenant, PUBLIC)
    (old, _), (new, _) = publish(tenant, "job.created"), publish(tenant, "job.succeeded")
    WebhookDelivery.objects.unscoped().filter(pk=old.pk).update(status="succeeded", attempts=1, response_status=204)
    client = client_for(make_token(tenant, Role.VIEWER))

    listed = client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").json()
    succeeded = client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries", {"status": "succeeded"}).json()
    bad = client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries", {"status": "done"})

    assert [row["id"] for row in listed["results"]] == [new.pk, old.pk]
    assert listed["results"][0]["webhook_id"] == f"msg_{new.event_id}"
    assert "body" not in listed["results"][0]
    assert [(row["id"], row["response_status"]) for row in succeeded["results"]] == [(old.pk, 204)]
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    other_deliveries = client.get(f"/api/v1/webhooks/{other.pk}/deliveries").json()["results"]
    assert {row["endpoint"] for row in other_deliveries} == {other.pk}


def test_a_refusal_does_not_tell_the_tenant_what_an_internal_name_resolves_to(
    tenant: Tenant, make_token: TokenMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ballast.webhooks import ssrf

    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["10.20.30.40"])

    response = client_for(make_token(tenant)).post(
        "/api/v1/webhooks", {"url": "https://billing.internal/hook"}, format="json"
    )

    assert response.status_code == 400
    message = response.json()["errors"]["url"][0]
    assert "not a public address" in message
    assert "10.20.30.40" not in response.content.decode() and "private" not in message


def test_a_tenant_may_have_at_most_the_configured_number_of_endpoints(
    tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker, settings
) -> None:
    assert settings.WEBHOOK_MAX_ENDPOINTS_PER_TENANT == 20  # the default
    settings.WEBHOOK_MAX_ENDPOINTS_PER_TENANT = 2
    client = client_for(make_token(tenant))
    first, second = (client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json") for _ in range(2))

    third = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json")
    theirs = client_for(make_token(other_tenant)).post("/api/v1/webhooks", {"url": PUBLIC}, format="json")
    client.delete(f"/api/v1/webhooks/{first.json()['id']}")
    after_delete = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert third.status_code == 409 and third["Content-Type"] == PROBLEM
    assert third.json()["code"] == "webhook_endpoint_limit" and "(2)" in third.json()["detail"]
    assert theirs.status_code == 201  # a limit per tenant
    assert after_delete.status_code == 201
    assert WebhookEndpoint.objects.unscoped().filter(tenant=tenant).count() == 2


def test_an_idempotent_replay_of_a_creation_never_shows_or_stores_the_secret(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    from ballast.outbox.models import IdempotencyRecord

    client = client_for(make_token(tenant))

    first = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    replay = client.post("/api/v1/webhooks", {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="create-1")

    assert first.status_code == replay.status_code == 201
    assert first.json()["secret"].startswith("whsec_") and first.json()["secret_redacted"] is False
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["secret"] is None and replay.json()["secret_redacted"] is True
    assert replay.json()["id"] == first.json()["id"]
    assert WebhookEndpoint.objects.unscoped().count() == 1
    stored = bytes(IdempotencyRecord.objects.unscoped().get(key="create-1").response_body)
    assert b"whsec_" not in stored and first.json()["secret"][6:].encode() not in stored
