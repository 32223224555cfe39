"""The email.send job against a real SMTP server (aiosmtpd): sent once, refused, retried, unknown."""

from __future__ import annotations

import threading
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.db import connections, transaction
from django.utils import timezone

from ballast.emails.delivery import LOCK_SPACE
from ballast.emails.maintenance import mark_abandoned_sendings
from ballast.emails.models import EmailDelivery
from ballast.emails.tests.conftest import Mailbox, new_delivery, run_job, unused_port
from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.services import enqueue, replay_dead_letter
from ballast.tenants.models import AuditEntry, Tenant


def delivery_row(pk: int) -> EmailDelivery:
    return EmailDelivery.objects.unscoped().get(pk=pk)


def job_row(pk: int | None) -> Job:
    return Job.objects.unscoped().get(pk=pk)


def make_due(job_id: int | None) -> None:
    """Skip the backoff: the retry is due now."""
    Job.objects.unscoped().filter(pk=job_id).update(available_at=timezone.now())


def trail(delivery: EmailDelivery) -> list[str]:
    return list(
        AuditEntry.objects.unscoped()
        .filter(target_type="email_delivery", target_id=str(delivery.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_a_delivery_is_sent_once_with_its_stored_message_id(tenant: Tenant, smtp: Mailbox) -> None:
    delivery = new_delivery(tenant, to=["ada@example.com", "grace@example.com"])

    report = run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert report["succeeded"] == 1
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert row.sent_at is not None and row.last_attempt_at is not None
    (message,) = smtp.accepted
    assert message["Message-ID"] == delivery.message_id
    assert message["X-Envelope-To"] == "ada@example.com, grace@example.com"
    assert (message["Subject"], message["From"]) == ("Your report is ready", delivery.from_email)
    assert str(message.get_payload()).replace("\r\n", "\n") == "Hello Ada,\nthe report is attached.\n"
    assert parsedate_to_datetime(message["Date"]) == row.created_at.replace(microsecond=0)
    assert job_row(delivery.job_id).result == {
        "delivery_id": delivery.pk,
        "status": "sent",
        "message_id": delivery.message_id,
        "sent": True,
    }
    assert trail(delivery) == ["email.queued", "email.sending", "email.sent"]


def test_running_the_job_of_a_sent_delivery_again_sends_nothing(tenant: Tenant, smtp: Mailbox) -> None:
    delivery = new_delivery(tenant)
    run_job(tenant.pk, delivery.job_id)
    with transaction.atomic():  # a second job for the same delivery, as a replayed or duplicated one would be
        again = enqueue(tenant=tenant, job_type="email.send", payload=job_row(delivery.job_id).payload)

    report = run_job(tenant.pk, again.pk)

    assert report["succeeded"] == 1
    assert (job_row(again.pk).result or {})["sent"] is False
    assert len(smtp.accepted) == 1
    assert delivery_row(delivery.pk).attempts == 1


def test_a_job_whose_hash_differs_from_the_delivery_is_refused_without_sending(tenant: Tenant, smtp: Mailbox) -> None:
    delivery = new_delivery(tenant)
    with transaction.atomic():
        forged = enqueue(
            tenant=tenant, job_type="email.send", payload={"delivery_id": delivery.pk, "payload_hash": "0" * 64}
        )

    run_job(tenant.pk, forged.pk)

    assert job_row(forged.pk).status == "failed"
    letter = DeadLetter.objects.unscoped().get(job_id=forged.pk)
    assert letter.reason == "permanent" and "other content" in letter.error
    assert smtp.accepted == []
    assert delivery_row(delivery.pk).status == "pending"


def test_a_job_cannot_send_another_tenants_delivery(tenant: Tenant, other_tenant: Tenant, smtp: Mailbox) -> None:
    theirs = new_delivery(other_tenant)
    with transaction.atomic():
        forged = enqueue(tenant=tenant, job_type="email.send", payload=job_row(theirs.job_id).payload)

    run_job(tenant.pk, forged.pk)

    assert "does not exist in this tenant" in job_row(forged.pk).last_error
    assert smtp.accepted == []
    assert delivery_row(theirs.pk).status == "pending"


def test_a_550_fails_the_delivery_without_a_retry(tenant: Tenant, smtp: Mailbox) -> None:
    smtp.rcpt_replies = ["550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown"]
    delivery = new_delivery(tenant)

    report = run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert (report["failed"], report["retried"]) == (1, 0)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in row.last_error and "User unknown" in row.last_error
    assert job_row(delivery.job_id).status == "failed"
    assert DeadLetter.objects.unscoped().get(job_id=delivery.job_id).reason == "permanent"
    assert smtp.accepted == []
    assert trail(delivery) == ["email.queued", "email.sending", "email.failed"]


def test_a_451_is_retried_and_the_retry_sends_the_same_message(tenant: Tenant, smtp: Mailbox) -> None:
    smtp.data_replies = ["451 4.3.0 Temporary local problem, try again later"]
    delivery = new_delivery(tenant)

    first = run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert first["retried"] == 1
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error  # recorded although the attempt's own writes were rolled back
    assert job_row(delivery.job_id).status == "queued"
    assert smtp.accepted == []

    make_due(delivery.job_id)
    second = run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert second["succeeded"] == 1
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert smtp.message_ids() == [delivery.message_id]
    assert trail(delivery) == ["email.queued", "email.sending", "email.deferred", "email.sending", "email.sent"]


def test_an_unreachable_server_is_retried(tenant: Tenant, smtp: Mailbox, settings) -> None:
    settings.EMAIL_PORT = unused_port()  # nobody listens there
    delivery = new_delivery(tenant)

    report = run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert report["retried"] == 1
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Cannot open the email connection" in row.last_error


def test_a_transient_failure_on_the_last_attempt_fails_the_delivery_and_a_replay_sends_it(
    tenant: Tenant, smtp: Mailbox
) -> None:
    smtp.data_replies = ["421 4.7.0 Too many connections"]
    delivery = new_delivery(tenant)
    Job.objects.unscoped().filter(pk=delivery.job_id).update(max_attempts=1)

    run_job(tenant.pk, delivery.job_id)

    assert delivery_row(delivery.pk).status == "failed"
    letter = DeadLetter.objects.unscoped().get(job_id=delivery.job_id)
    assert letter.reason == "exhausted"

    with transaction.atomic():  # the operator replays it: the server never took it, so sending again is safe
        replay_dead_letter(dead_letter=letter, actor="user:operator")
    run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert (row.status, row.attempts) == ("sent", 2)
    assert smtp.message_ids() == [delivery.message_id]


def test_a_delivery_found_sending_is_recorded_unknown_then_sent_again_with_the_same_message_id(
    tenant: Tenant, smtp: Mailbox
) -> None:
    # The state a worker leaves when it dies after the server accepted, before recording it.
    delivery = new_delivery(tenant)
    run_job(tenant.pk, delivery.job_id)
    EmailDelivery.objects.unscoped().filter(pk=delivery.pk).update(status="sending", sent_at=None)
    with transaction.atomic():
        retry = enqueue(tenant=tenant, job_type="email.send", payload=job_row(delivery.job_id).payload)

    run_job(tenant.pk, retry.pk)

    row = delivery_row(delivery.pk)
    assert (row.status, row.attempts) == ("sent", 2)
    assert smtp.message_ids() == [delivery.message_id, delivery.message_id]  # at least once, one identity
    assert trail(delivery)[-3:] == ["email.outcome_unknown", "email.sending", "email.sent"]


def test_a_delivery_being_sent_by_a_live_attempt_is_left_alone(tenant: Tenant, smtp: Mailbox) -> None:
    delivery = new_delivery(tenant)
    EmailDelivery.objects.unscoped().filter(pk=delivery.pk).update(status="sending", attempts=1)
    holding, release = threading.Event(), threading.Event()

    def live_attempt() -> None:  # another worker, mid-conversation: it holds the delivery's lock
        try:
            with transaction.atomic(using="owner"), connections["owner"].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", [LOCK_SPACE, str(delivery.pk)]
                )
                holding.set()
                release.wait(30)
        finally:
            connections["owner"].close()

    other = threading.Thread(target=live_attempt)
    other.start()
    try:
        assert holding.wait(10)
        report = run_job(tenant.pk, delivery.job_id)
    finally:
        release.set()
        other.join(10)

    row = delivery_row(delivery.pk)
    assert report["retried"] == 1 and "DeliveryBusy" in job_row(delivery.job_id).last_error
    assert (row.status, row.attempts) == ("sending", 1)  # not declared unknown, not sent twice
    assert smtp.accepted == []


def test_a_broken_conversation_leaves_unknown_and_the_retry_resends(tenant: Tenant, smtp: Mailbox) -> None:
    smtp.data_replies = ["this is not an SMTP reply"]  # the client cannot parse it: no verdict from the server
    delivery = new_delivery(tenant)

    run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert (row.status, job_row(delivery.job_id).status) == ("unknown", "queued")
    assert "broke off" in row.last_error

    make_due(delivery.job_id)
    run_job(tenant.pk, delivery.job_id)

    assert delivery_row(delivery.pk).status == "sent"
    assert smtp.message_ids() == [delivery.message_id]


def test_sendings_abandoned_by_an_ended_job_become_unknown(tenant: Tenant, smtp: Mailbox) -> None:
    abandoned, running = new_delivery(tenant), new_delivery(tenant, subject="Another")
    EmailDelivery.objects.unscoped().filter(pk__in=[abandoned.pk, running.pk]).update(status="sending", attempts=1)
    Job.objects.unscoped().filter(pk=abandoned.job_id).update(status="failed")  # dead-lettered by the reaper
    Job.objects.unscoped().filter(pk=running.job_id).update(status="running")

    assert mark_abandoned_sendings() == 1
    assert mark_abandoned_sendings() == 0

    assert delivery_row(abandoned.pk).status == "unknown"
    assert delivery_row(running.pk).status == "sending"
    assert trail(abandoned)[-1] == "email.outcome_unknown"


def test_the_recording_smtp_backend_keeps_the_servers_id_as_provider_message_id(
    tenant: Tenant, smtp: Mailbox, settings
) -> None:
    settings.EMAIL_BACKEND = "ballast.emails.backends.SMTPEmailBackend"
    smtp.accept_reply = "250 2.0.0 Ok: queued as 4F1A2B3C"
    delivery = new_delivery(tenant)

    run_job(tenant.pk, delivery.job_id)

    row = delivery_row(delivery.pk)
    assert (row.status, row.provider_message_id) == ("sent", "4F1A2B3C")
    assert smtp.message_ids() == [delivery.message_id]


def test_the_file_backend_of_development_writes_the_message_under_its_path(
    tenant: Tenant, settings, tmp_path: Path
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    settings.EMAIL_RATE_PER_MINUTE = settings.EMAIL_RATE_PER_TENANT_PER_MINUTE = 0
    delivery = new_delivery(tenant)

    run_job(tenant.pk, delivery.job_id)

    assert delivery_row(delivery.pk).status == "sent"
    (written,) = tmp_path.iterdir()
    assert f"Message-ID: {delivery.message_id}" in written.read_text()
