"""Deliveries end to end: fan_out → webhooks.deliver jobs run in-process → a real HTTP receiver on localhost."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from ballast.jobs.registry import get_handler
from ballast.tenants.audit import SYSTEM_ACTOR
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant
from ballast.webhooks import ssrf
from ballast.webhooks.delivery import attempt_delivery
from ballast.webhooks.models import WebhookEndpoint
from ballast.webhooks.services import update_endpoint
from ballast.webhooks.tests.conftest import (
    Receiver,
    Reply,
    attempt_job,
    delivery_row,
    endpoint_row,
    make_endpoint,
    publish,
    result_of,
    run_attempt,
)

pytestmark = pytest.mark.usefixtures("private_networks")


def test_the_receiver_gets_a_signed_delivery_it_can_verify(tenant: Tenant, receiver: Receiver) -> None:
    _, secret = make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)

    job = run_attempt(delivery.pk, 1)

    (request,) = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["webhook-id"] == f"msg_{delivery.event_id}"
    verified = Webhook(secret).verify(request.body, request.headers)
    assert verified["id"] == delivery.event_id and verified["data"]["note"] == "ünïcode ✓"
    assert request.body == delivery.body.encode()
    row = delivery_row(delivery.pk)
    assert (row.status, row.attempts, row.response_status, row.response_excerpt) == ("succeeded", 1, 200, "ok")
    assert row.delivered_at is not None and row.next_attempt_at is None and row.last_error == ""
    assert job.status == "succeeded" and result_of(job)["outcome"] == "succeeded"


def test_a_failed_attempt_is_retried_on_schedule_with_the_same_id_and_body(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, secret = make_endpoint(tenant, receiver.url)
    receiver.answer(Reply(500, body=b"database on fire"), Reply(200))
    (delivery,) = publish(tenant)

    first = run_attempt(delivery.pk, 1)

    pending = delivery_row(delivery.pk)
    assert (pending.status, pending.attempts, pending.response_status) == ("pending", 1, 500)
    assert pending.response_excerpt == "database on fire" and pending.last_error == "HTTP 500."
    assert first.status == "succeeded" and result_of(first)["outcome"] == "retry_scheduled"  # the job did its part
    retry = attempt_job(delivery.pk, 2)
    assert retry is not None and retry.status == "queued" and retry.available_at == pending.next_attempt_at
    assert pending.last_attempt_at is not None and pending.next_attempt_at is not None
    delay = (pending.next_attempt_at - pending.last_attempt_at).total_seconds()
    assert 4.5 - 1 <= delay <= 5.5 + 1  # 5 s ± 10 %, measured from the attempt's end
    assert endpoint_row(endpoint.pk).consecutive_failures == 1

    run_attempt(delivery.pk, 2)

    first_request, second_request = receiver.requests
    assert second_request.headers["webhook-id"] == first_request.headers["webhook-id"] == f"msg_{delivery.event_id}"
    assert second_request.body == first_request.body
    Webhook(secret).verify(second_request.body, second_request.headers)
    done = delivery_row(delivery.pk)
    assert (done.status, done.attempts, done.response_status, done.last_error) == ("succeeded", 2, 200, "")
    healthy = endpoint_row(endpoint.pk)
    assert (healthy.consecutive_failures, healthy.failing_since) == (0, None)


def test_410_gone_disables_the_endpoint_and_says_so_in_the_audit_log(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    receiver.answer(Reply(410))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    row = delivery_row(delivery.pk)
    assert (row.status, row.response_status, row.next_attempt_at) == ("failed", 410, None)
    assert attempt_job(delivery.pk, 2) is None
    gone = endpoint_row(endpoint.pk)
    assert (gone.enabled, gone.disabled_reason) == (False, "gone") and gone.disabled_at is not None
    audit = AuditEntry.objects.unscoped().get(action="webhook.endpoint_disabled", target_id=str(endpoint.pk))
    assert (audit.tenant_id, audit.actor, audit.data["reason"]) == (tenant.pk, SYSTEM_ACTOR, "gone")
    assert publish(tenant) == []  # a disabled endpoint gets no new deliveries


def test_a_redirect_is_a_failure_and_is_not_followed(tenant: Tenant, receiver: Receiver) -> None:
    make_endpoint(tenant, receiver.url)
    receiver.answer(Reply(302, headers={"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    assert [request.path for request in receiver.requests] == ["/hooks"]
    row = delivery_row(delivery.pk)
    assert (row.status, row.attempts, row.response_status) == ("pending", 1, 302)
    assert "redirects are not followed" in row.last_error and "/elsewhere" in row.last_error
    assert attempt_job(delivery.pk, 2) is not None


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_pushes_the_next_attempt_past_the_schedule(tenant: Tenant, receiver: Receiver, form: str) -> None:
    make_endpoint(tenant, receiver.url)
    asked = timezone.now() + timedelta(hours=2)
    header = "7200" if form == "seconds" else format_datetime(asked, usegmt=True)
    receiver.answer(Reply(503, headers={"Retry-After": header}))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    row = delivery_row(delivery.pk)
    assert row.status == "pending" and row.next_attempt_at is not None
    assert abs((row.next_attempt_at - asked).total_seconds()) < 5  # not the scheduled 5 s
    job = attempt_job(delivery.pk, 2)
    assert job is not None and job.available_at == row.next_attempt_at


def test_an_endpoint_failing_for_five_days_is_disabled_and_audited(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    streak_start = timezone.now() - timedelta(days=5, minutes=1)
    WebhookEndpoint.objects.unscoped().filter(pk=endpoint.pk).update(
        consecutive_failures=41, failing_since=streak_start
    )
    receiver.answer(Reply(500))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    disabled = endpoint_row(endpoint.pk)
    assert (disabled.enabled, disabled.disabled_reason, disabled.consecutive_failures) == (False, "failing", 42)
    row = delivery_row(delivery.pk)
    assert row.status == "failed" and "failed for 5 days and is disabled" in row.last_error
    assert attempt_job(delivery.pk, 2) is None
    audit = AuditEntry.objects.unscoped().get(action="webhook.endpoint_disabled", target_id=str(endpoint.pk))
    assert audit.data["reason"] == "failing" and audit.data["consecutive_failures"] == 42
    assert audit.data["failing_since"] == streak_start.isoformat()


def test_a_younger_failure_streak_only_counts(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    WebhookEndpoint.objects.unscoped().filter(pk=endpoint.pk).update(
        consecutive_failures=3, failing_since=timezone.now() - timedelta(days=4, hours=23)
    )
    receiver.answer(Reply(500))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    row = endpoint_row(endpoint.pk)
    assert (row.enabled, row.consecutive_failures) == (True, 4)
    assert not AuditEntry.objects.unscoped().filter(action="webhook.endpoint_disabled").exists()


def test_the_schedule_ends_after_the_eighth_attempt(tenant: Tenant, receiver: Receiver) -> None:
    make_endpoint(tenant, receiver.url)
    receiver.answer(*[Reply(500)] * 8)
    (delivery,) = publish(tenant)

    for attempt in range(1, 9):
        run_attempt(delivery.pk, attempt)

    row = delivery_row(delivery.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 8, None)
    assert row.last_error == "HTTP 500. Gave up after 8 attempts."
    assert len(receiver.requests) == 8 and attempt_job(delivery.pk, 9) is None


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(tenant: Tenant, receiver: Receiver, settings) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    make_endpoint(tenant, receiver.url)
    receiver.answer(Reply(200, delay=2))
    (delivery,) = publish(tenant)

    job = run_attempt(delivery.pk, 1)

    row = delivery_row(delivery.pk)
    assert (row.status, row.response_status) == ("pending", None)
    assert "timed out" in row.last_error
    assert result_of(job)["duration_ms"] < 1500


def test_the_connection_goes_to_the_vetted_address_with_the_original_host_name(
    tenant: Tenant, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No DNS knows this name: only the vetted address can have reached the receiver.
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    make_endpoint(tenant, f"http://hooks.example.test:{receiver.port}/in?x=1")
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert request.path == "/in?x=1"
    assert delivery_row(delivery.pk).status == "succeeded"


def test_each_delivery_vets_the_address_again_so_dns_rebinding_is_refused(
    tenant: Tenant, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.215.14"])  # public when created
    endpoint, _ = make_endpoint(tenant, f"http://rebind.example.test:{receiver.port}/in")
    (delivery,) = publish(tenant)
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])  # then the name moves

    run_attempt(delivery.pk, 1)

    assert receiver.requests == []
    row = delivery_row(delivery.pk)
    assert row.status == "pending" and row.response_status is None
    assert "Refused before sending" in row.last_error and "not a public address" in row.last_error
    assert "127.0.0.1" not in row.last_error  # the tenant reads last_error: it never learns the resolved address
    assert endpoint_row(endpoint.pk).consecutive_failures == 1


def test_a_delivery_for_a_disabled_endpoint_is_cancelled_unsent(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)
    with tenant_scope(tenant.pk):
        update_endpoint(endpoint=endpoint, changes={"enabled": False})

    job = run_attempt(delivery.pk, 1)

    assert receiver.requests == []
    assert delivery_row(delivery.pk).status == "cancelled"
    assert result_of(job)["outcome"] == "cancelled"


def test_a_deleted_endpoints_pending_job_does_nothing(tenant: Tenant, receiver: Receiver) -> None:
    endpoint, _ = make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)
    with tenant_scope(tenant.pk):
        WebhookEndpoint.objects.get(pk=endpoint.pk).delete()

    job = run_attempt(delivery.pk, 1)

    assert receiver.requests == []
    assert job.status == "succeeded" and result_of(job)["outcome"] == "skipped"


def test_an_attempt_already_made_is_not_made_again(tenant: Tenant, receiver: Receiver) -> None:
    make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)
    run_attempt(delivery.pk, 1)

    with tenant_scope(tenant.pk):
        again = attempt_delivery(delivery_id=delivery.pk, attempt=1)

    assert again["outcome"] == "skipped"
    assert len(receiver.requests) == 1


def test_a_response_excerpt_is_bounded_and_storable(tenant: Tenant, receiver: Receiver) -> None:
    make_endpoint(tenant, receiver.url)
    receiver.answer(Reply(500, body=b"\x00" + "é".encode() * 5000))
    (delivery,) = publish(tenant)

    run_attempt(delivery.pk, 1)

    excerpt = delivery_row(delivery.pk).response_excerpt
    assert excerpt == "\ufffd" + "é" * 511  # 1 + 511 * 2 bytes read; the character cut at 1024 is dropped


def test_a_delivery_job_announces_no_job_events() -> None:
    # Its job.* events would be fanned out to "job.*" endpoints, whose deliveries would announce more.
    assert get_handler("webhooks.deliver").lifecycle_events is False


def test_a_delivery_whose_attempt_job_is_dead_lettered_fails_instead_of_staying_pending(
    tenant: Tenant, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_endpoint(tenant, receiver.url)
    (delivery,) = publish(tenant)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the transport")

    monkeypatch.setattr("ballast.webhooks.delivery.post", broken)
    for _ in range(get_handler("webhooks.deliver").max_attempts):
        job = run_attempt(delivery.pk, 1)

    assert job.status == "failed"
    row = delivery_row(delivery.pk)
    assert (row.status, row.next_attempt_at) == ("failed", None)
    assert "dead-lettered" in row.last_error and "a bug in the transport" in row.last_error
