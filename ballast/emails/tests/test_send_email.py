"""send_email: the delivery row and its job, written in the caller's transaction; keys and refusals."""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from ballast.emails.models import EmailDelivery
from ballast.emails.services import EmailConflict, InvalidEmail, payload_hash, send_email
from ballast.emails.tests.conftest import new_delivery
from ballast.jobs.models import Job
from ballast.jobs.tests.conftest import queue_length
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import AuditEntry, Tenant


def test_send_email_writes_a_pending_delivery_and_its_job_and_pushes_after_commit(tenant: Tenant, settings) -> None:
    settings.EMAIL_MESSAGE_ID_DOMAIN = "mail.ballast.test"

    with transaction.atomic():
        delivery = send_email(tenant=tenant, to=[" ada@example.com "], subject="Hi", body="Hello", actor="user:ada")
        assert queue_length("email") == 0  # nothing leaves before commit

    row = EmailDelivery.objects.unscoped().get(pk=delivery.pk)
    job = Job.objects.unscoped().get(pk=row.job_id)
    assert delivery.created is True
    assert (row.status, row.attempts, row.recipients, row.from_email) == (
        "pending",
        0,
        ["ada@example.com"],
        settings.DEFAULT_FROM_EMAIL,
    )
    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.ballast\.test>", row.message_id)
    assert row.payload_hash == payload_hash(to=["ada@example.com"], subject="Hi", body="Hello")
    assert (job.job_type, job.queue, job.payload) == (
        "email.send",
        "email",
        {"delivery_id": row.pk, "payload_hash": row.payload_hash},
    )
    assert queue_length("email") == 1
    audit = AuditEntry.objects.unscoped().get(action="email.queued")
    assert (audit.actor, audit.target_id, audit.data["job_id"]) == ("user:ada", str(row.pk), job.pk)


def test_a_rollback_leaves_no_delivery_no_job_and_no_message(tenant: Tenant) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        send_email(tenant=tenant, to=["ada@example.com"], subject="Hi", body="Hello")
        raise RuntimeError("the caller changed its mind")

    assert not EmailDelivery.objects.unscoped().exists()
    assert not Job.objects.unscoped().exists()
    assert queue_length("email") == 0


def test_the_same_key_and_content_returns_the_existing_delivery_and_enqueues_nothing(tenant: Tenant) -> None:
    first = new_delivery(tenant, key="welcome:42")
    again = new_delivery(tenant, key="welcome:42")

    assert (again.pk, again.created, again.message_id) == (first.pk, False, first.message_id)
    assert Job.objects.unscoped().count() == 1
    assert queue_length("email") == 1


@pytest.mark.parametrize(
    "change",
    [{"to": ["grace@example.com"]}, {"subject": "Another subject"}, {"body": "Another body"}],
    ids=["recipients", "subject", "body"],
)
def test_the_same_key_with_other_content_is_refused(tenant: Tenant, change: dict) -> None:
    first = new_delivery(tenant, key="welcome:42")

    with pytest.raises(EmailConflict, match="welcome:42") as refused:
        new_delivery(tenant, key="welcome:42", **change)

    assert refused.value.delivery.pk == first.pk
    assert EmailDelivery.objects.unscoped().count() == 1
    assert Job.objects.unscoped().count() == 1


def test_a_key_conflict_inside_a_callers_transaction_leaves_it_usable(tenant: Tenant) -> None:
    new_delivery(tenant, key="k")

    with transaction.atomic():
        with pytest.raises(EmailConflict):
            send_email(tenant=tenant, to=["grace@example.com"], subject="s", body="b", key="k")
        other = send_email(tenant=tenant, to=["grace@example.com"], subject="s", body="b", key="k2")

    assert EmailDelivery.objects.unscoped().filter(pk=other.pk).exists()


def test_a_key_belongs_to_one_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    ours = new_delivery(tenant, key="welcome:42")
    theirs = new_delivery(other_tenant, key="welcome:42", subject="Something else")

    assert ours.pk != theirs.pk and theirs.created
    with tenant_scope(other_tenant.pk):
        assert list(EmailDelivery.objects.values_list("pk", flat=True)) == [theirs.pk]  # RLS and the manager


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"to": []}, "non-empty list"),
        ({"to": "ada@example.com"}, "non-empty list"),
        ({"to": ["ada@example.com", "not-an-address"]}, r"to\[1\] is not a valid email address"),
        ({"to": ["ada@example.com\nBcc: eve@example.com"]}, r"to\[0\] is not a valid email address"),
        ({"to": [f"user{n}@example.com" for n in range(51)]}, "At most 50 recipients"),
        ({"subject": "Hi\r\nBcc: eve@example.com"}, "one line"),
        ({"subject": "x" * 999}, "the limit is 998"),
        ({"key": ""}, "key must be 1 to 255"),
    ],
)
def test_invalid_input_is_refused_with_the_reason_and_nothing_is_written(
    tenant: Tenant, arguments: dict, reason: str
) -> None:
    with pytest.raises(InvalidEmail, match=reason):
        new_delivery(tenant, **arguments)

    assert not EmailDelivery.objects.unscoped().exists()
    assert not Job.objects.unscoped().exists()
