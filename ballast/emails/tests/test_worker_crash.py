"""A real rqworker killed after the SMTP server accepted its message, before it could record it."""

from __future__ import annotations

import time

from django.utils import timezone

from ballast.emails.models import EmailDelivery
from ballast.emails.tests.conftest import Mailbox, new_delivery, run_job
from ballast.jobs.models import Job
from ballast.jobs.scheduler.rescue import rescue_expired_leases
from ballast.jobs.tests.processes import FAST_SETTINGS, Processes, wait_for
from ballast.tenants.models import AuditEntry, Tenant


def test_a_worker_killed_after_the_server_accepted_leaves_unknown_and_the_retry_reuses_the_message_id(
    tenant: Tenant, smtp: Mailbox, processes: Processes
) -> None:
    delivery = new_delivery(tenant)
    doomed = processes.worker(
        "email",
        name="doomed",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),  # type: ignore[attr-defined]
    )
    # The server stores the message, then the worker dies before it reads the 250.
    smtp.on_accept = lambda: processes.kill(doomed)

    wait_for(lambda: doomed.poll() is not None, timeout=60, what="the worker to be killed mid-send")

    row = EmailDelivery.objects.unscoped().get(pk=delivery.pk)
    assert (row.status, row.attempts) == ("sending", 1)
    assert smtp.message_ids() == [delivery.message_id]

    # The scheduler takes the job back once the dead worker's lease expires; the retry runs here.
    smtp.on_accept = None
    time.sleep(float(FAST_SETTINGS["JOBS_LEASE_SECONDS"]) + 0.5)
    assert rescue_expired_leases().retried == 1
    Job.objects.unscoped().filter(pk=delivery.job_id).update(available_at=timezone.now())
    run_job(tenant.pk, delivery.job_id)

    row = EmailDelivery.objects.unscoped().get(pk=delivery.pk)
    assert (row.status, row.attempts) == ("sent", 2)
    # At least once: the server saw the message twice, both times under its one identity.
    assert smtp.message_ids() == [delivery.message_id, delivery.message_id]
    unknown = AuditEntry.objects.unscoped().get(target_id=str(delivery.pk), action="email.outcome_unknown")
    assert unknown.data["from"] == "sending" and unknown.data["attempt"] == 1
