"""The consoles as an operator sees them, in Debian's headless Chromium (Playwright) against the app as a real
server process: every page fits 1,440 px and 390 px, the charts are uPlot's with humanised values under the
pointer, the pages refresh in place (filters and scroll kept) until paused, and filters hold. Screenshots at both
widths are written under the test's tmp dir."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from ballast.jobs.bulk import JobFilter
from ballast.jobs.models import JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops import actions, rollups
from ballast.ops.models import MinuteRollup
from ballast.ops.tests.conftest import ConsoleData
from ballast.ops.tests.test_browser import log_in
from ballast.uploads.tests.test_browser import chromium, in_browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(900)

WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}


def overflow(page: Any) -> int:
    """How far the page is wider than the viewport (0 when it fits)."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def test_every_console_page_fits_a_wide_screen_and_a_phone(
    operator: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    preview = actions.PreviewBulk(action="retry", where=JobFilter(status="failed"))
    preview.check(operator)
    bulk_id = preview.execute().data["bulk_id"]
    pages = {
        "queue": "/admin/ops/queue/",
        "queue-tenant-24h": f"/admin/ops/queue/?tenant={data.other.slug}&window=24h&queue=default",
        "jobs": "/admin/ops/jobs/",
        "jobs-failed": "/admin/ops/jobs/?status=failed",
        "job": f"/admin/ops/jobs/?job={data.dead_letter.job_id}",
        "bulk": f"/admin/ops/jobs/?bulk={bulk_id}",
        "uploads": "/admin/ops/uploads/",
        "batches": "/admin/ops/batches/",
        "refused": "/admin/ops/queue/?window=30d",
    }

    def steps(page: Any) -> dict[str, int]:
        log_in(page, web_server, "operator", "/admin/")
        found: dict[str, int] = {}
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for name, url in pages.items():
                page.goto(web_server + url)
                page.wait_for_selector("#ops-live")
                page.wait_for_load_state("load")
                found[f"{name}@{width}"] = overflow(page)
                page.screenshot(path=str(tmp_path / f"{name}-{width_name}.png"), full_page=True)
        return found

    found = in_browser(chromium, steps)
    assert found == dict.fromkeys(found, 0), {page: px for page, px in found.items() if px}
    assert len(found) == 2 * len(pages)
    for name in pages:
        for width_name in WIDTHS:
            assert (tmp_path / f"{name}-{width_name}.png").stat().st_size > 5_000


def test_an_operator_watches_live_charts_and_filters_that_hold(
    operator: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Given trends in the rollups: five attempts two minutes ago, whose run p95 is about 13 minutes.
    process_due_jobs(max_jobs=10, budget_ms=5000)
    JobAttempt.objects.unscoped().update(finished_at=timezone.now() - timedelta(minutes=2))
    rollups.roll_up()
    MinuteRollup.objects.using("system").filter(finished__gt=0).update(run_p95=782_487.8)
    queued = '#queues tr[data-queue="default"] td.due'

    def write() -> None:
        try:
            enqueue(tenant=data.tenant, job_type="diagnostics.echo", payload={"value": 42})
        finally:
            connections.close_all()  # the thread's connections go back, or the test database cannot be dropped

    def add_due_job(page: Any) -> None:
        # Playwright's thread runs an event loop, which Django takes for an async context: write from another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(write).result()

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "operator", "/admin/")

        # Filters hold: picking a tenant keeps status and type.
        page.goto(f"{web_server}/admin/ops/jobs/?status=failed&job_type=diagnostics.fail")
        page.select_option("#tenant-filter select[name=tenant]", data.other.slug)
        page.click("#tenant-filter input[type=submit]")
        page.wait_for_selector("#jobs")
        seen["jobs_url"] = page.url
        seen["jobs_listed"] = page.locator("#jobs tr[data-job]").count()
        response = page.goto(f"{web_server}/admin/ops/queue/?tenant=nosuch")
        seen["nosuch"] = (response.status, page.text_content("#refused"))

        # Charts: uPlot draws them; the value under the pointer is humanised.
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(f"{web_server}/admin/ops/queue/?window=1h&queue=default")
        page.wait_for_selector('figure[data-chart="run-p95"][data-drawn="true"] canvas')
        seen["plots"] = page.locator("#trends .uplot").count()
        over = page.locator('figure[data-chart="run-p95"] .u-over')
        over.scroll_into_view_if_needed()
        box = over.bounding_box()
        hovered = set()
        for step in range(1, 40):
            page.mouse.move(box["x"] + box["width"] * step / 40, box["y"] + box["height"] / 2)
            hovered.add(page.text_content('figure[data-chart="run-p95"] .u-legend .u-series:nth-child(2) .u-value'))
        seen["hovered"] = hovered
        seen["hover_time"] = page.text_content('figure[data-chart="run-p95"] .u-legend .u-series:nth-child(1) .u-value')
        page.screenshot(path=str(tmp_path / "charts-wide.png"), full_page=True)

        # Live: the page refreshes in place, filters and scroll kept; nothing reloads.
        page.select_option("#ops-refresh-rate", "2")
        page.evaluate("window.opsSamePage = true; window.scrollTo(0, 700)")
        seen["due_before"] = page.text_content(queued)
        add_due_job(page)
        page.wait_for_function(f"() => document.querySelector('{queued}').textContent.trim() === '1'", timeout=10_000)
        seen["same_page"] = page.evaluate("window.opsSamePage === true")
        seen["scroll"] = page.evaluate("window.scrollY")
        seen["live_url"] = page.url
        page.wait_for_selector('figure[data-chart="run-p95"][data-drawn="true"] canvas')
        seen["redrawn"] = page.locator('figure[data-chart="run-p95"][data-drawn="true"] canvas').count()
        seen["status"] = page.text_content("#ops-live-status")

        # Paused: nothing changes any more.
        page.click("#ops-refresh-pause")
        refreshes = page.get_attribute("#ops-live-status", "data-refreshes")
        add_due_job(page)
        page.wait_for_timeout(2_500)
        seen["paused"] = (
            page.text_content(queued),
            page.get_attribute("#ops-live-status", "data-refreshes") == refreshes,
            page.text_content("#ops-live-status"),
            page.text_content("#ops-refresh-pause"),
        )
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        page.screenshot(path=str(tmp_path / "charts-phone.png"), full_page=True)
        seen["phone_overflow"] = overflow(page)
        return seen

    seen = in_browser(chromium, steps)
    assert "status=failed" in seen["jobs_url"] and "job_type=diagnostics.fail" in seen["jobs_url"]
    assert f"tenant={data.other.slug}" in seen["jobs_url"] and seen["jobs_listed"] == 1
    assert seen["nosuch"][0] == 400 and "There is no tenant 'nosuch'." in seen["nosuch"][1]
    assert seen["plots"] == 5
    assert "13 min" in seen["hovered"], seen["hovered"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", seen["hover_time"] or ""), seen["hover_time"]
    assert seen["due_before"] == "0"  # the seeded jobs ran for the trends
    assert seen["same_page"] and seen["scroll"] == 700
    assert seen["live_url"].endswith("/admin/ops/queue/?window=1h&queue=default")
    assert seen["redrawn"] == 1 and seen["status"].startswith("Live, updated")
    due, unchanged, status, button = seen["paused"]
    assert due == "1" and unchanged and status.startswith("Paused") and button == "Resume"
    assert seen["phone_overflow"] == 0
    for name in ("charts-wide.png", "charts-phone.png"):
        assert (tmp_path / name).stat().st_size > 10_000
