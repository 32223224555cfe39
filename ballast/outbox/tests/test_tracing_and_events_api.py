"""Correlation and trace context from the request to jobs and events; the events API and causal chains."""

from __future__ import annotations

from django.db import transaction

from ballast.jobs.tests.conftest import job_row
from ballast.lib.tracing import current
from ballast.outbox.services import emit
from ballast.outbox.tests.helpers import events, run_pending_jobs
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.models import Tenant
from ballast.tenants.tests.conftest import client_for

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_request_passes_its_correlation_and_valid_trace_to_the_job(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))

    response = client.post(
        "/api/v1/jobs",
        {"job_type": "diagnostics.echo", "payload": {"value": 1}},
        format="json",
        HTTP_X_CORRELATION_ID="order-flow-17",
        HTTP_TRACEPARENT=TRACE,
    )

    job = job_row(response.json()["id"])
    assert response["X-Correlation-ID"] == "order-flow-17"
    assert (job.correlation_id, job.traceparent, job.trace_id) == ("order-flow-17", TRACE, TRACE[3:35])


def test_an_invalid_traceparent_is_ignored_and_a_correlation_id_is_started(
    tenant: Tenant, make_token: TokenMaker
) -> None:
    client = client_for(make_token(tenant))

    response = client.post(
        "/api/v1/jobs",
        {"job_type": "diagnostics.echo", "payload": {"value": 1}},
        format="json",
        HTTP_TRACEPARENT="00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        HTTP_X_CORRELATION_ID="not valid because of spaces",
    )

    job = job_row(response.json()["id"])
    assert job.traceparent != "" and "0000000000000000" not in job.traceparent
    assert response["X-Correlation-ID"] == job.correlation_id and " " not in job.correlation_id


def test_events_a_handler_emits_are_caused_by_its_job(tenant: Tenant) -> None:
    from ballast.jobs.services import enqueue

    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="tests.ship_order", payload={"order": 5}, correlation_id="flow-9")
    run_pending_jobs()

    (shipped,) = events(event_type="order.shipped")
    assert shipped.causation_id == str(job.created_event_id)
    assert shipped.correlation_id == "flow-9" and shipped.traceparent == job.traceparent
    assert current().causation_id == ""  # the worker's context ended with the job


def test_the_chain_shows_a_jobs_events_with_their_causation(tenant: Tenant, make_token: TokenMaker) -> None:
    client = client_for(make_token(tenant))
    created = client.post(
        "/api/v1/jobs",
        {"job_type": "diagnostics.sleep", "payload": {"seconds": 0}},
        format="json",
        HTTP_X_CORRELATION_ID="flow-1",
    )
    client.post("/api/v1/jobs", {"job_type": "diagnostics.echo", "payload": {"value": 1}}, format="json")
    run_pending_jobs()
    job = job_row(created.json()["id"])

    listed = client.get("/api/v1/events", {"correlation_id": "flow-1"}).json()["results"]
    chain = client.get(f"/api/v1/events/{job.created_event_id}/chain").json()

    assert sorted(event["type"] for event in listed) == ["job.created", "job.succeeded"]
    assert chain["correlation_id"] == "flow-1" and chain["count"] == 2
    (root,) = chain["roots"]
    assert root["event"]["type"] == "job.created" and root["event"]["id"] == str(job.created_event_id)
    assert [child["event"]["type"] for child in root["children"]] == ["job.succeeded"]
    assert root["children"][0]["parent_id"] == str(job.created_event_id)


def test_events_of_another_tenant_are_invisible(tenant: Tenant, other_tenant: Tenant, make_token: TokenMaker) -> None:
    with transaction.atomic():
        theirs = emit(tenant_id=other_tenant.pk, event_type="order.placed", target_type="order", target_id=1)
    client = client_for(make_token(tenant))

    assert client.get("/api/v1/events").json()["results"] == []
    assert client.get(f"/api/v1/events/{theirs.event_id}/chain").status_code == 404
    assert client.get("/api/v1/events/not-a-uuid/chain").status_code == 400
    assert len(events()) == 1
