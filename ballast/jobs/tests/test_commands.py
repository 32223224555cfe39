from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ballast.jobs.models import DeadLetter, Job
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.worker.run import run_now
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_jobs_enqueue_prints_the_new_jobs_id(tenant: Tenant) -> None:
    job_id = int(_call("jobs_enqueue", "--tenant", "acme", "diagnostics.echo", '{"value": 3}').strip())
    assert job_row(job_id).payload == {"value": 3}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "diagnostics.echo", "{}"], "No tenant 'nope'"),
        (["--tenant", "acme", "diagnostics.echo", "{oops"], "not valid JSON"),
        (["--tenant", "acme", "diagnostics.echo", "{}"], "'value' is a required property"),
    ],
)
def test_jobs_enqueue_explains_bad_input(tenant: Tenant, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _call("jobs_enqueue", *args)
    assert Job.objects.unscoped().count() == 0


def test_dlq_replay_is_a_dry_run_unless_confirmed(tenant: Tenant) -> None:
    job = enqueue(tenant=tenant, job_type="diagnostics.fail", payload={"message": "x"}, max_attempts=1)
    run_now(job.pk)

    dry = _call("dlq_replay", "--tenant", "acme", "--all")
    assert "would replay" in dry and job_row(job.pk).status == "failed"

    done = _call("dlq_replay", "--tenant", "acme", "--job-type", "diagnostics.fail", "--confirm")
    assert "replayed 1" in done
    assert job_row(job.pk).status == "queued"
    assert DeadLetter.objects.unscoped().get(job_id=job.pk).status == "replayed"


def test_dlq_replay_needs_a_job_type_or_all(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="--job-type, or say --all"):
        _call("dlq_replay", "--tenant", "acme", "--confirm")


def test_jobs_reap_takes_back_an_expired_lease(tenant: Tenant) -> None:
    job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    with tenant_scope(tenant.pk):
        Job.objects.filter(pk=job.pk).update(
            status="running", attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=5)
        )

    assert "1 retried" in _call("jobs_reap")
    assert job_row(job.pk).status == "queued"
