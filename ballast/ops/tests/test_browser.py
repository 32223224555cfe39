"""The consoles in Debian's headless Chromium (Playwright) against the app as a real server process: an operator
acts, a read-only staff user sees no controls and is refused, a non-staff user is sent to the login page.
Screenshots of each page are written under the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from ballast.jobs.models import Job, Pause
from ballast.jobs.states import JobStatus as S
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops.models import Alert
from ballast.ops.tests.conftest import PASSWORD, ConsoleData
from ballast.tenants.models import OperatorAction
from ballast.uploads.models import CleanupRun
from ballast.uploads.tests.test_browser import chromium, in_browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(900)


def log_in(page: Any, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/admin/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_an_operator_runs_a_type_now_pauses_and_resumes_it_handles_an_alert_and_runs_a_cleanup(
    operator: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "operator", "/admin/")
        seen["index"] = page.text_content("#content")
        page.click("text=Ops: queue")
        page.wait_for_selector("#health")
        seen["due_before"] = page.text_content('#queues tr[data-queue="default"] td.due')
        page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

        row = page.locator('#types tr[data-type="diagnostics.echo"]')
        row.locator("form.run-now select[name=tenant]").select_option(data.tenant.slug)
        row.locator("form.run-now button").click()
        page.wait_for_selector("ul.messagelist li.success")
        seen["run_now"] = page.text_content("ul.messagelist li.success")

        page.locator('#types tr[data-type="diagnostics.echo"] form.pause button').click()
        page.wait_for_selector('#types tr[data-type="diagnostics.echo"] td.state:has-text("paused")')
        seen["paused_button"] = page.text_content('#types tr[data-type="diagnostics.echo"] form.pause button')
        page.screenshot(path=str(tmp_path / "queue-paused.png"), full_page=True)
        page.locator('#types tr[data-type="diagnostics.echo"] form.pause button').click()
        page.wait_for_selector('#types tr[data-type="diagnostics.echo"] td.state:has-text("active")')

        page.locator(f'#alerts tr[data-alert="{data.alert.pk}"] button[value=acknowledge]').click()
        page.wait_for_selector(f'#alerts tr[data-alert="{data.alert.pk}"] td.status:has-text("acknowledged")')
        page.locator(f'#alerts tr[data-alert="{data.alert.pk}"] button[value=snooze]').click()
        page.wait_for_selector("ul.messagelist li.success:has-text('snoozed')")

        page.goto(f"{web_server}/admin/ops/uploads/")
        page.wait_for_selector("#storage")
        page.screenshot(path=str(tmp_path / "uploads.png"), full_page=True)
        page.locator(f'#storage tr[data-tenant="{data.tenant.slug}"] button[value=cleanup_now]').click()
        page.wait_for_selector("ul.messagelist li.success")
        seen["cleanup"] = page.text_content("ul.messagelist li.success")
        seen["intents_cleaned"] = page.text_content(
            f'#cleanup-runs tr[data-tenant="{data.tenant.slug}"] .intents-cleaned'
        )
        page.screenshot(path=str(tmp_path / "uploads-after-cleanup.png"), full_page=True)
        return seen

    seen = in_browser(chromium, steps)
    assert "Ops: queue" in seen["index"] and "Ops: uploads" in seen["index"]
    assert seen["due_before"] == "4"
    assert "3 processed, 3 succeeded" in seen["run_now"]
    assert (
        Job.objects.unscoped().filter(tenant=data.tenant, job_type="diagnostics.echo", status=S.SUCCEEDED).count() == 3
    )
    assert seen["paused_button"] == "Resume"
    assert not Pause.objects.using("system").exists()
    alert = Alert.objects.using("system").get()
    assert alert.status == Alert.Status.ACKNOWLEDGED and alert.snoozed_until is not None
    assert "ran: succeeded" in seen["cleanup"].lower()
    assert seen["intents_cleaned"] == "1"
    assert CleanupRun.objects.unscoped().get(tenant_id=data.tenant.pk).intents_cleaned == 1
    assert list(OperatorAction.objects.using("system").order_by("id").values_list("action", flat=True)) == [
        "ops.queue.run_now",
        "ops.queue.pause",
        "ops.queue.resume",
        "ops.alert.acknowledge",
        "ops.alert.snooze",
        "ops.uploads.cleanup",
    ]
    for name in ("queue.png", "queue-paused.png", "uploads.png", "uploads-after-cleanup.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_a_read_only_staff_user_sees_no_controls_and_is_refused_on_post(
    reader: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "reader", "/admin/ops/queue/")
        page.wait_for_selector("#health")
        seen["queue_buttons"] = page.locator("#ops-live button").count()  # the refresh controls act on nothing
        seen["dead_letter_listed"] = page.locator(f'tr[data-dead-letter="{data.dead_letter.pk}"]').count()
        page.screenshot(path=str(tmp_path / "queue-read-only.png"), full_page=True)
        page.goto(f"{web_server}/admin/ops/uploads/")
        page.wait_for_selector("#storage")
        seen["uploads_buttons"] = page.locator("#ops-live button").count()  # the refresh controls act on nothing
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        for url, form in (
            ("/admin/ops/queue/", {"action": "pause", "kind": "type", "target": "diagnostics.echo"}),
            ("/admin/ops/uploads/", {"action": "cleanup_now", "tenant": data.tenant.slug}),
        ):
            response = page.request.post(
                web_server + url,
                form={**form, "csrfmiddlewaretoken": token},
                headers={"Referer": web_server + url},
            )
            seen[url] = response.status
        return seen

    seen = in_browser(chromium, steps)
    assert seen["queue_buttons"] == 0 and seen["uploads_buttons"] == 0
    assert seen["dead_letter_listed"] == 1
    assert seen["/admin/ops/queue/"] == 403 and seen["/admin/ops/uploads/"] == 403
    assert not Pause.objects.using("system").exists()
    assert not OperatorAction.objects.using("system").exists()


def test_a_non_staff_user_is_sent_to_the_login_page(
    outsider: User,
    web_server: str,
    chromium: str,  # noqa: F811
) -> None:
    def steps(page: Any) -> str:
        log_in(page, web_server, "outsider", "/admin/ops/queue/")
        page.goto(f"{web_server}/admin/ops/queue/")
        return str(page.url)

    assert "/admin/login/" in in_browser(chromium, steps)


def test_an_operator_retries_failed_jobs_in_bulk_through_preview_and_confirmation(
    operator: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "operator", "/admin/ops/jobs/?status=failed")
        page.wait_for_selector("#jobs")
        seen["listed"] = page.locator("#jobs tr[data-job]").count()
        page.screenshot(path=str(tmp_path / "jobs.png"), full_page=True)
        page.select_option("#bulk-preview select[name=bulk_action]", "retry")
        page.click("#bulk-preview button")
        page.wait_for_selector("#bulk-confirm")
        seen["preview"] = page.text_content("#bulk-count")
        seen["filter"] = page.text_content("#bulk-filter")
        seen["preview_links"] = page.locator("#bulk-jobs tr[data-job] a").count()
        page.screenshot(path=str(tmp_path / "bulk-preview.png"), full_page=True)
        page.click("#bulk-confirm")
        page.wait_for_selector('#bulk[data-status="running"]')
        seen["started"] = page.text_content("ul.messagelist li.success")
        page.click(f'#bulk-jobs tr[data-job="{data.dead_letter.job_id}"] a')  # the progress page links to its jobs
        page.wait_for_selector("#chain")
        seen["job_page"] = page.text_content("#job h2")
        seen["chain"] = page.locator("#chain li").count()
        page.screenshot(path=str(tmp_path / "job.png"), full_page=True)
        return seen

    seen = in_browser(chromium, steps)
    assert seen["listed"] == 1
    assert "1 job(s) matched" in seen["preview"]
    assert "Retry of 1 job(s) started" in seen["started"]
    assert seen["filter"] == "Filter: status is failed" and seen["preview_links"] == 1
    assert seen["job_page"] == f"Job {data.dead_letter.job_id}: diagnostics.fail"
    assert seen["chain"] >= 2
    assert list(OperatorAction.objects.using("system").order_by("id").values_list("action", flat=True)) == [
        "ops.bulk.preview",
        "ops.bulk.confirm",
    ]
    assert process_due_jobs(max_jobs=5, budget_ms=10_000, job_type="ops.bulk").succeeded == 1
    assert Job.objects.unscoped().get(pk=data.dead_letter.job_id).status == S.QUEUED
    for name in ("jobs.png", "bulk-preview.png", "job.png"):
        assert (tmp_path / name).stat().st_size > 10_000
