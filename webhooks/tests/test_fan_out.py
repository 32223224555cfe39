"""fan_out: one delivery per subscribed, enabled endpoint, idempotent per event, never across tenants."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import transaction

from jobs.models import Job
from tenants.context import TenantContextError, tenant_scope
from tenants.models import Tenant
from webhooks.models import WebhookDelivery
from webhooks.services import WebhookError, fan_out, matches, update_endpoint
from webhooks.tests.conftest import attempt_job, cloud_event, make_endpoint, publish

PUBLIC = "https://93.184.215.14/hooks"


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        ([], "job.succeeded", True),
        (["*"], "anything.at_all", True),
        (["job.succeeded"], "job.succeeded", True),
        (["job.succeeded"], "job.succeeded.v2", False),
        (["job.*"], "job.failed", True),
        (["job.*"], "jobs.failed", False),
        (["job.*"], "job", False),
        (["email.sent", "job.created"], "job.created", True),
        (["email.*"], "job.created", False),
    ],
)
def test_event_type_patterns(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_each_subscribed_enabled_endpoint_gets_one_delivery_and_its_first_job(tenant: Tenant) -> None:
    everything, _ = make_endpoint(tenant, PUBLIC)
    star, _ = make_endpoint(tenant, PUBLIC, ["*"])
    exact, _ = make_endpoint(tenant, PUBLIC, ["job.succeeded"])
    prefix, _ = make_endpoint(tenant, PUBLIC, ["job.*"])
    make_endpoint(tenant, PUBLIC, ["email.sent"])
    disabled, _ = make_endpoint(tenant, PUBLIC)
    with tenant_scope(tenant.pk):
        update_endpoint(endpoint=disabled, changes={"enabled": False})
    event_id = uuid.uuid4()

    deliveries = publish(tenant, "job.succeeded", event_id)

    assert [d.endpoint_id for d in deliveries] == [everything.pk, star.pk, exact.pk, prefix.pk]
    for delivery in deliveries:
        assert (delivery.status, delivery.attempts, delivery.event_type) == ("pending", 0, "job.succeeded")
        assert delivery.webhook_id == f"msg_{event_id}"
        assert json.loads(delivery.body) == cloud_event(str(event_id), "job.succeeded")
        job = attempt_job(delivery.pk, 1)
        assert job is not None and job.status == "queued" and job.payload == {"delivery_id": delivery.pk, "attempt": 1}


def test_a_redelivered_event_finds_its_deliveries_and_enqueues_nothing_more(tenant: Tenant) -> None:
    make_endpoint(tenant, PUBLIC)
    make_endpoint(tenant, PUBLIC, ["job.*"])
    event_id = uuid.uuid4()

    first = publish(tenant, "job.succeeded", event_id)
    again = publish(tenant, "job.succeeded", str(event_id).upper())  # another spelling of the same id

    assert [d.pk for d in again] == [d.pk for d in first]
    assert WebhookDelivery.objects.unscoped().count() == 2
    assert Job.objects.unscoped().filter(job_type="webhooks.deliver").count() == 2


def test_fan_out_joins_the_callers_transaction(tenant: Tenant) -> None:
    make_endpoint(tenant, PUBLIC)

    with pytest.raises(RuntimeError), tenant_scope(tenant.pk):
        fan_out(tenant_id=tenant.pk, event_id=uuid.uuid4(), event_type="job.created", body={"x": 1})
        raise RuntimeError("the relay's hand-off failed")

    assert WebhookDelivery.objects.unscoped().count() == 0
    assert Job.objects.unscoped().count() == 0


def test_fan_out_never_crosses_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    make_endpoint(other_tenant, PUBLIC)

    assert publish(tenant) == []
    with pytest.raises(TenantContextError), tenant_scope(tenant.pk):
        fan_out(tenant_id=other_tenant.pk, event_id=uuid.uuid4(), event_type="job.created", body={})
    assert WebhookDelivery.objects.unscoped().count() == 0


@pytest.mark.parametrize("event_id", ["", "has space", "dot.ted", "x" * 201])
def test_an_event_id_that_cannot_make_a_webhook_id_is_refused(tenant: Tenant, event_id: str) -> None:
    make_endpoint(tenant, PUBLIC)
    with pytest.raises(WebhookError), transaction.atomic(), tenant_scope(tenant.pk):
        fan_out(tenant_id=tenant.pk, event_id=event_id, event_type="job.created", body={})
