"""One tenant's backlog must not starve another tenant's single job."""

from __future__ import annotations

from django.db import transaction

from ballast.jobs.models import Job
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row, queue_length
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.tenants.models import Tenant

BACKLOG = 3000


def test_a_single_job_of_a_quiet_tenant_overtakes_a_noisy_tenants_backlog(
    tenant: Tenant, other_tenant: Tenant, processes: Processes
) -> None:
    with transaction.atomic():
        for index in range(BACKLOG):
            enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": index})
    with transaction.atomic():
        quiet = enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": "me"})
    assert queue_length() == 2  # one wake-up per tenant: the quiet tenant's is second in line

    processes.scheduler()
    processes.worker("default")
    wait_for(lambda: job_row(quiet.pk).status == "succeeded", timeout=120, what="the quiet tenant's job")

    finished_at = job_row(quiet.pk).finished_at
    noisy = Job.objects.unscoped().filter(tenant=tenant)
    still_waiting = noisy.exclude(status="succeeded").count() + noisy.filter(finished_at__gt=finished_at).count()
    # In strict FIFO order it would finish last, after all 3000. It must be served well before the backlog drains.
    assert still_waiting >= BACKLOG // 3, f"only {still_waiting} of the backlog were behind the quiet job"
