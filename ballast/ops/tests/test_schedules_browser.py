"""The schedules console in Debian's headless Chromium (Playwright) against the app as a real server process: an
operator runs a schedule now, opens its history, pauses and resumes it and creates one from the form, with no
Content-Security-Policy violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from ballast.jobs import schedules
from ballast.jobs.models import Job, Schedule
from ballast.ops.tests.test_browser import log_in
from ballast.tenants.models import AuditEntry, Tenant
from ballast.uploads.tests.test_browser import chromium, in_browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(600)


def test_an_operator_runs_a_schedule_now_reads_its_history_and_pauses_and_resumes_it(
    operator: User,
    tenant: Tenant,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    nightly = schedules.create_schedule(
        tenant_id=tenant.pk,
        name="nightly",
        job_type="diagnostics.echo",
        payload={"value": 3},
        expression="0 3 * * *",
        timezone="Europe/Berlin",
        actor="user:setup",
    )
    row = f'#schedules tr[data-schedule="{nightly.pk}"]'

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "operator", "/admin/ops/schedules/")
        page.wait_for_selector(row)
        seen["next_run"] = page.text_content(f"{row} td.next-run")
        page.locator(f"{row} button[value=run_now]").click()
        page.wait_for_selector("ul.messagelist li.success")
        seen["run_now"] = page.text_content("ul.messagelist li.success")
        page.locator(f"{row} td a").first.click()
        page.wait_for_selector("#history tr[data-job]")
        seen["history"] = page.text_content("#history tbody")
        page.screenshot(path=str(tmp_path / "schedules.png"), full_page=True)
        page.locator(f"{row} button[value=pause]").click()
        page.wait_for_selector(f'{row} td.state:has-text("paused")')
        page.locator(f"{row} button[value=resume]").click()
        page.wait_for_selector(f'{row} td.state:has-text("enabled")')
        page.select_option("#new-tenant", "acme")
        page.select_option("#new-job-type", "diagnostics.echo")
        page.fill("#new-cron", "*/1 * * * *")
        page.fill("#new-payload", '{"value": 1}')
        page.click('#new-schedule button[value="create"]')
        page.wait_for_selector("ul.messagelist li.success")
        seen["created"] = page.text_content("ul.messagelist li.success")
        return seen

    seen = in_browser(chromium, steps)
    job = Job.objects.unscoped().get()
    assert seen["next_run"].strip() and f"job {job.pk} is queued" in seen["run_now"]
    assert str(job.pk) in seen["history"] and "run now" in seen["history"]
    assert Schedule.objects.unscoped().get(pk=nightly.pk).enabled
    actions = list(
        AuditEntry.objects.unscoped().filter(target_type="schedule").order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        *("schedule.created", "schedule.run_now", "schedule.paused", "schedule.resumed"),
        "schedule.created",  # from the form
    ]
    made = Schedule.objects.unscoped().exclude(pk=nightly.pk).get()
    assert (made.cron, made.payload, made.created_by) == ("*/1 * * * *", {"value": 1}, "user:operator")
    assert f"Schedule {made.name!r} is created" in seen["created"]
    assert (tmp_path / "schedules.png").stat().st_size > 10_000
