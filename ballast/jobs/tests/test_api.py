"""The jobs API: tenant-scoped, idempotent creation, state changes with clear errors."""

from __future__ import annotations

import pytest
from django.db import transaction

from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.registry import get_handler
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row, queue_length
from ballast.jobs.worker.run import run_now
from ballast.outbox.idempotency_records import invalidate
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for

PROBLEM = "application/problem+json"


def _run(job_id: int) -> None:
    job = job_row(job_id)
    run_now(job.pk)


def test_post_creates_a_job_and_a_repeated_key_returns_it(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    body = {"job_type": "diagnostics.echo", "payload": {"value": 7}, "priority": 5}

    created = client.post("/api/v1/jobs", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    replayed = client.post("/api/v1/jobs", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    conflicting = client.post(
        "/api/v1/jobs", {**body, "payload": {"value": 8}}, format="json", HTTP_IDEMPOTENCY_KEY="order-1"
    )
    # Once the HTTP record is gone (TTL, or an operator), the job's own key still finds the same job.
    invalidate(tenant_id=tenant.pk, key="order-1")
    found = client.post("/api/v1/jobs", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    invalidate(tenant_id=tenant.pk, key="order-1")
    other_payload = client.post(
        "/api/v1/jobs", {**body, "payload": {"value": 9}}, format="json", HTTP_X_IDEMPOTENCY_KEY="order-1"
    )

    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "queued" and created.json()["priority"] == 5
    assert replayed.status_code == 201 and replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == created.json()
    assert conflicting.status_code == 422 and conflicting["Content-Type"] == PROBLEM
    assert found.status_code == 200 and found.json()["id"] == created.json()["id"]
    assert other_payload.status_code == 422 and "another type or payload" in other_payload.json()["detail"]
    assert Job.objects.unscoped().count() == 1
    assert queue_length() == 1


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"job_type": "nope", "payload": {}}, {}, "job_type"),
        ({"job_type": "diagnostics.echo", "payload": {"x": 1}}, {}, "payload"),
        ({"job_type": "diagnostics.echo", "payload": {"value": 1}, "priorty": 1}, {}, "priorty"),
        ({"job_type": "diagnostics.echo", "payload": {"value": 1}, "max_attempts": 0}, {}, "max_attempts"),
        ({"job_type": "diagnostics.echo", "payload": {"value": 1}, "run_at": "tomorrow"}, {}, "run_at"),
        ({"payload": {"value": 1}}, {}, "job_type"),
        (
            {"job_type": "diagnostics.echo", "payload": {"value": 1}},
            {"HTTP_IDEMPOTENCY_KEY": "x" * 256},
            "Idempotency-Key",
        ),
    ],
)
def test_bad_job_requests_get_400_naming_the_field(
    tenant: Tenant, make_token: TokenMaker, body: dict, headers: dict, field: str
) -> None:
    response = client_for(make_token(tenant)).post("/api/v1/jobs", body, format="json", **headers)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    assert Job.objects.unscoped().count() == 0


def test_malformed_json_gets_400_not_500(tenant: Tenant, make_token: TokenMaker) -> None:
    response = client_for(make_token(tenant)).post("/api/v1/jobs", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_list_filters_and_detail_shows_attempts_and_checkpoint(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    with transaction.atomic():
        echo = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
        sleeper = enqueue(tenant=tenant, job_type="diagnostics.sleep", payload={"seconds": 0, "steps": 2})
    _run(echo.pk)
    _run(sleeper.pk)

    listed = client.get("/api/v1/jobs", {"job_type": "diagnostics.sleep"})
    detail = client.get(f"/api/v1/jobs/{sleeper.pk}")
    bad_filter = client.get("/api/v1/jobs", {"status": "done"})

    assert [job["id"] for job in listed.json()["results"]] == [sleeper.pk]
    assert detail.json()["status"] == "succeeded"
    assert detail.json()["result"] == {"steps_done": 2, "resumed_from": 0}
    assert [a["outcome"] for a in detail.json()["attempt_history"]] == ["succeeded"]
    assert detail.json()["last_checkpoint"]["state"] == {"steps_done": 2}
    assert bad_filter.status_code == 400 and "status" in bad_filter.json()["errors"]


def test_the_list_is_cursor_paginated(tenant: Tenant, make_token: TokenMaker) -> None:
    with transaction.atomic():
        ids = [enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": i}).pk for i in range(5)]
    client = client_for(make_token(tenant))

    first = client.get("/api/v1/jobs", {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert [job["id"] for job in first["results"] + second["results"]] == sorted(ids, reverse=True)[:4]


def test_another_tenants_job_answers_404(tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker) -> None:
    theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1})
    client = client_for(make_token(tenant, Role.ADMIN))

    assert client.get(f"/api/v1/jobs/{theirs.pk}").status_code == 404
    assert client.post(f"/api/v1/jobs/{theirs.pk}/cancel").status_code == 404
    assert client.get("/api/v1/jobs").json()["results"] == []
    assert job_row(theirs.pk).status == "queued"


def test_cancel_and_retry_follow_the_state_machine(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})

    early_retry = client.post(f"/api/v1/jobs/{job.pk}/retry")
    cancelled = client.post(f"/api/v1/jobs/{job.pk}/cancel")
    cancel_again = client.post(f"/api/v1/jobs/{job.pk}/cancel")
    retried = client.post(f"/api/v1/jobs/{job.pk}/retry")

    assert early_retry.status_code == 409 and "queued" in early_retry.json()["detail"]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancel_again.status_code == 409
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    _run(job.pk)
    assert job_row(job.pk).status == "succeeded"


def test_dead_letters_are_listed_and_replayed_once(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    job = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "no"}, max_attempts=1)
    _run(job.pk)

    letters = client.get("/api/v1/dead-letters").json()["results"]
    replay = client.post(f"/api/v1/dead-letters/{letters[0]['id']}/replay")
    again = client.post(f"/api/v1/dead-letters/{letters[0]['id']}/replay")

    assert [(row["job"], row["reason"], row["status"]) for row in letters] == [(job.pk, "exhausted", "recorded")]
    assert replay.status_code == 200 and replay.json()["status"] == "queued"
    # Attempts count on: the replay grants the type's allowance after the one already made.
    assert (replay.json()["attempts"], replay.json()["max_attempts"]) == (
        1,
        1 + get_handler("diagnostics.fail").max_attempts,
    )
    assert again.status_code == 409
    assert DeadLetter.objects.unscoped().get(pk=letters[0]["id"]).status == "replayed"


def test_a_viewer_reads_but_cannot_write(tenant: Tenant, make_token: TokenMaker) -> None:
    viewer = client_for(make_token(tenant, Role.VIEWER))

    assert viewer.get("/api/v1/jobs").status_code == 200
    response = viewer.post("/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": {"value": 1}}, format="json")
    assert response.status_code == 403
    assert Job.objects.unscoped().count() == 0


def test_queue_process_runs_only_the_admins_tenant(
    tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker
) -> None:
    with transaction.atomic():
        ours = [enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": i}).pk for i in range(3)]
        failing = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "x"}, max_attempts=1).pk
    theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1}).pk

    response = client_for(make_token(tenant, Role.ADMIN)).post("/api/v1/queue/process?max=10&budget_ms=5000")

    body = response.json()
    assert response.status_code == 200
    assert (body["processed"], body["succeeded"], body["failed"]) == (4, 3, 1)
    assert all(job_row(i).status == "succeeded" for i in ours) and job_row(failing).status == "failed"
    assert job_row(theirs).status == "queued"


def test_queue_process_with_the_secret_may_name_any_tenant(
    tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker, settings
) -> None:
    settings.QUEUE_PROCESS_SECRET = "s3cret-for-cron"
    theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1}).pk
    ours = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}).pk
    from rest_framework.test import APIClient

    response = APIClient().post("/api/v1/queue/process?tenant=globex&max=5", HTTP_X_QUEUE_SECRET="s3cret-for-cron")
    wrong = APIClient().post("/api/v1/queue/process", HTTP_X_QUEUE_SECRET="guess")

    assert response.status_code == 200 and response.json()["processed"] == 1
    assert job_row(theirs).status == "succeeded" and job_row(ours).status == "queued"
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("max=0", "max"),
        ("max=51", "max"),
        ("budget_ms=-5", "budget_ms"),
        ("max=ten", "max"),
        ("colour=red", "colour"),
    ],
)
def test_queue_process_rejects_bad_parameters(tenant: Tenant, make_token: TokenMaker, query: str, field: str) -> None:
    response = client_for(make_token(tenant, Role.ADMIN)).post(f"/api/v1/queue/process?{query}")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_only_the_queue_secret_holder_may_name_a_tenant(tenant: Tenant, make_token: TokenMaker) -> None:
    response = client_for(make_token(tenant, Role.ADMIN)).post("/api/v1/queue/process?tenant=acme")

    assert response.status_code == 403
    assert "X-Queue-Secret" in response.json()["detail"]


def test_queue_process_needs_an_admin(tenant: Tenant, make_token: TokenMaker) -> None:
    response = client_for(make_token(tenant, Role.MEMBER)).post("/api/v1/queue/process")
    assert response.status_code == 403


def test_the_schema_documents_the_jobs_api(committed: None) -> None:
    from rest_framework.test import APIClient

    paths = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/retry",
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/{dead_letter_id}/replay",
        "/api/v1/queue/process",
    ):
        assert path in paths


@pytest.mark.parametrize("job_type", ["webhooks.deliver", "email.send", "outbox.deliver", "diagnostics.chaos"])
def test_clients_cannot_enqueue_internal_job_types_nor_learn_their_names(
    tenant: Tenant, make_token: TokenMaker, job_type: str
) -> None:
    client = client_for(make_token(tenant, Role.ADMIN))

    response = client.post("/api/v1/jobs", {"job_type": job_type, "payload": {}}, format="json")

    assert response.status_code == 400
    text = response.content.decode()
    assert "diagnostics.echo" in text  # the types it may enqueue
    internal = {"webhooks.deliver", "email.send", "outbox.deliver", "diagnostics.chaos", "uploads."} - {job_type}
    assert not any(name in text for name in internal)  # only the name it sent itself
    assert not Job.objects.unscoped().exists()


def test_a_clients_idempotency_key_cannot_take_an_internal_key(tenant: Tenant, make_token: TokenMaker) -> None:
    with transaction.atomic():
        internal = enqueue(
            tenant=tenant, job_type="diagnostics.echo", payload={"value": 1}, idempotency_key="webhook:1:1"
        )
    client = client_for(make_token(tenant, Role.MEMBER))

    response = client.post(
        "/api/v1/jobs",
        {"job_type": "diagnostics.echo", "payload": {"value": 2}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="webhook:1:1",
    )

    assert response.status_code == 201 and response.json()["id"] != internal.pk
    assert response.json()["idempotency_key"] == "webhook:1:1"  # shown as the client sent it


def test_a_job_posted_after_another_waits_for_it_and_runs_once_it_succeeded(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    client = client_for(make_token(tenant))
    parent = client.post("/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": {"value": 1}}, format="json")
    body = {"job_type": "diagnostics.echo", "payload": {"value": 2}, "after": parent.json()["id"]}

    child = client.post("/api/v1/jobs", body, format="json")

    assert child.status_code == 201, child.json()
    assert (child.json()["status"], child.json()["depends_on_id"]) == ("waiting", parent.json()["id"])
    _run(parent.json()["id"])
    assert job_row(child.json()["id"]).status == "queued"


def test_a_parent_of_another_tenant_unknown_or_not_public_is_a_400_naming_after(
    tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker
) -> None:
    with transaction.atomic():
        theirs = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 1})
        internal = enqueue(tenant=tenant, job_type="uploads.purge_trash", payload={"dry_run": True})
    client = client_for(make_token(tenant))

    for parent_id in (theirs.pk, internal.pk, 999_999_999, 2**63):
        body = {"job_type": "diagnostics.echo", "payload": {"value": 2}, "after": parent_id}
        response = client.post("/api/v1/jobs", body, format="json")
        assert response.status_code == 400 and response["Content-Type"] == PROBLEM, parent_id
        assert "after" in response.json()["errors"], parent_id
    assert Job.objects.unscoped().count() == 2
