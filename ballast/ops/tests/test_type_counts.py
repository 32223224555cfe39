"""The type overview's counts: due and running read live from the partial indexes, scheduled from the minute
rollup (ops_typebacklog), so no page load counts the future jobs of a large table."""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ballast.jobs.services import enqueue
from ballast.ops import rollups
from ballast.tenants.models import Tenant


def type_row(user: User, job_type: str, query: str = "") -> list[str]:
    client = Client()
    client.force_login(user)
    page = client.get(f"/admin/ops/queue/{query}").content.decode()
    row = page[page.index(f'<tr data-type="{job_type}">') :]
    return re.findall(r'<td class="num(?: due)?">(\d+)</td>', row[: row.index("</tr>")])[:3]  # due, scheduled, running


def test_due_jobs_count_at_once_and_scheduled_ones_from_the_next_rollup(
    reader: User, tenant: Tenant, other_tenant: Tenant
) -> None:
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})
    later = timezone.now() + timedelta(hours=1)
    enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 2}, run_at=later)
    enqueue(tenant=other_tenant, job_type="diagnostics.echo", payload={"value": 3}, run_at=later)

    assert type_row(reader, "diagnostics.echo") == ["1", "0", "0"]  # the scheduled ones wait for the rollup
    rollups.roll_up()
    assert type_row(reader, "diagnostics.echo") == ["1", "2", "0"]
    assert type_row(reader, "diagnostics.echo", f"?tenant={other_tenant.slug}") == ["0", "1", "0"]
    # The queue's own counts are live, scheduled included.
    client = Client()
    client.force_login(reader)
    page = client.get("/admin/ops/queue/").content.decode()
    assert 'data-queue="default"><td>default</td><td class="num due">1</td><td class="num">2</td>' in page
