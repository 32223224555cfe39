"""Every failure readable: the admin's pages of attempts, dead letters and checkpoints open, each attempt keeps its
traceback, a retry or a replay resolves the dead letters, and attempts count on across retries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ballast.jobs import actions
from ballast.jobs.models import Checkpoint, DeadLetter, Job, JobAttempt
from ballast.jobs.registry import get_handler
from ballast.jobs.services import enqueue
from ballast.jobs.tests import handlers  # noqa: F401  (registers the test job types)
from ballast.jobs.worker.complete import MAX_ERROR_CHARS
from ballast.jobs.worker.run import run_now
from ballast.outbox.models import OutboxEvent
from ballast.pytest_plugin import TokenMaker
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant
from ballast.tenants.tests.conftest import client_for

pytestmark = pytest.mark.usefixtures("committed")

OPERATOR = actions.Operator(actor="user:operator")


def dead_lettered(tenant: Tenant, message: str = "boom") -> Job:
    job = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": message}, max_attempts=1)
    run_now(job.pk)
    return Job.objects.unscoped().get(pk=job.pk)


def superuser_client() -> Client:
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def test_a_superuser_opens_the_admin_pages_of_an_attempt_a_dead_letter_and_a_checkpoint(tenant: Tenant) -> None:
    job = dead_lettered(tenant)
    with tenant_scope(tenant.pk):
        checkpoint = Checkpoint.objects.create(tenant_id=tenant.pk, job_id=job.pk, sequence=1, attempt=1, state={})
    attempt = JobAttempt.objects.unscoped().get(job_id=job.pk)
    letter = DeadLetter.objects.unscoped().get(job_id=job.pk)
    client = superuser_client()

    for model, pk in (("jobattempt", attempt.pk), ("deadletter", letter.pk), ("checkpoint", checkpoint.pk)):
        listing = client.get(f"/admin/jobs/{model}/")
        page = client.get(f"/admin/jobs/{model}/{pk}/change/")
        assert (model, listing.status_code, page.status_code) == (model, 200, 200)
    attempt_page = client.get(f"/admin/jobs/jobattempt/{attempt.pk}/change/").content.decode()
    assert "Traceback (most recent call last)" in attempt_page


def test_each_attempt_keeps_its_traceback_and_the_api_shows_it(tenant: Tenant, make_token: TokenMaker) -> None:
    job = dead_lettered(tenant)

    attempt = JobAttempt.objects.unscoped().get(job_id=job.pk)
    history = client_for(make_token(tenant)).get(f"/api/v1/jobs/{job.pk}").json()["attempt_history"]

    assert attempt.traceback.startswith("Traceback (most recent call last)") and "boom" in attempt.traceback
    assert [row["traceback"] for row in history] == [attempt.traceback]


def test_a_traceback_is_stored_without_nul_and_bounded(tenant: Tenant) -> None:
    job = enqueue(tenant=tenant, job_type="tests.nul_error", payload={})
    run_now(job.pk)

    trace = JobAttempt.objects.unscoped().get(job_id=job.pk).traceback

    assert "bad\\x00byte" in trace and "\x00" not in trace and len(trace) <= MAX_ERROR_CHARS


def test_retrying_a_dead_lettered_job_resolves_its_dead_letter_and_attempts_count_on(tenant: Tenant) -> None:
    job = dead_lettered(tenant)

    actions.retry_job(by=OPERATOR, job_id=job.pk)
    retried = Job.objects.unscoped().get(pk=job.pk)
    run_now(job.pk)

    letters = list(DeadLetter.objects.unscoped().filter(job_id=job.pk).values_list("status", flat=True))
    assert letters == ["replayed"]
    assert (retried.status, retried.attempts, retried.max_attempts) == (
        "queued",
        1,
        1 + get_handler("diagnostics.fail").max_attempts,
    )
    numbers = list(JobAttempt.objects.unscoped().filter(job_id=job.pk).order_by("id").values_list("attempt", flat=True))
    assert numbers == [1, 2]
    events = OutboxEvent.objects.unscoped().filter(correlation_id=job.correlation_id).order_by("id")
    assert "job.retried" in list(events.values_list("event_type", flat=True))


def test_a_replayed_dead_letter_cannot_be_replayed_again_after_a_retry_resolved_it(tenant: Tenant) -> None:
    job = dead_lettered(tenant)
    letter = DeadLetter.objects.unscoped().get(job_id=job.pk)

    actions.retry_job(by=OPERATOR, job_id=job.pk)

    assert DeadLetter.objects.unscoped().get(pk=letter.pk).status == "replayed"
    with pytest.raises(actions.ActionRefused, match="resolved already"):
        actions.replay_dead_letters(by=OPERATOR, dead_letter_ids=[letter.pk])
