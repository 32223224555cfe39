"""A job's timeline on the console (attempts with start, end and duration; checkpoints; the event chain with the
time between events) and the slow chains view over a window."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import connections

from ballast.jobs.models import Job
from ballast.jobs.services import enqueue
from ballast.jobs.worker.processing import process_due_jobs
from ballast.ops.templatetags.ops_durations import NONE, duration
from ballast.ops.tests.conftest import ConsoleData
from ballast.ops.tests.test_browser import log_in
from ballast.ops.tests.test_console import JOBS, logged_in
from ballast.uploads.tests.test_browser import chromium, in_browser  # noqa: F401  (fixture)


def section(page: str, name: str) -> str:
    """The page from the section's start to the next section's (or the page's end)."""
    assert f'id="{name}"' in page, f"no section {name}"
    return page.split(f'id="{name}"', 1)[1].split('<div class="ops-section"', 1)[0]


def delay_last_event(job: Job, *, minutes: int) -> None:
    """Arrange a slow chain: the last event of the job's correlation happened `minutes` later."""
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "UPDATE outbox_outboxevent SET occurred_at = occurred_at + make_interval(mins => %s) WHERE id = "
            "(SELECT max(id) FROM outbox_outboxevent WHERE correlation_id = %s)",
            [minutes, job.correlation_id],
        )


def test_durations_read_in_the_largest_units_that_read_well() -> None:
    assert [duration(value) for value in (None, 4, 1500, 782_487.8, 3 * 3_600_000, 3 * 86_400_000)] == [
        NONE,
        "4 ms",
        "1.5 s",
        "13 min 2 s",
        "3 h 0 min",
        "3 d 0 h",
    ]


def test_a_jobs_page_shows_each_attempt_each_checkpoint_and_the_time_between_its_events(
    reader: User, data: ConsoleData
) -> None:
    job = enqueue(tenant=data.tenant, job_type="diagnostics.sleep", payload={"seconds": 0.06, "steps": 3})
    process_due_jobs(max_jobs=1, budget_ms=5000, job_type="diagnostics.sleep")

    page = logged_in(reader).get(JOBS, {"job": job.pk}).content.decode()

    attempts = section(page, "attempts")
    ((started, ended, took),) = re.findall(
        r'<td class="started">([^<]+)</td><td class="ended">([^<]+)</td><td class="num took"[^>]*>([^<]+)</td>',
        attempts,
    )
    assert started < ended and re.fullmatch(r"\d+ ms", took) and int(took.split()[0]) >= 60
    checkpoints = section(page, "checkpoints")
    assert re.findall(r'<tr data-step="(\d+)">', checkpoints) == ["1", "2", "3"]
    assert "{&quot;steps_done&quot;: 3}" in checkpoints
    chain = section(page, "chain")
    events = re.findall(r'data-event-type="([^"]+)"', chain)
    assert events[0] == "job.created" and "job.succeeded" in events
    assert len(re.findall(r'<span class="gap"[^>]*>\+\d', chain)) == len(events) - 1  # each after the one before
    assert (
        f"{len(events)} event(s) of correlation {job.correlation_id}" in chain and "from the first to the last" in chain
    )


def test_slow_chains_lists_the_longest_correlations_first_each_linking_to_its_jobs(
    reader: User, data: ConsoleData
) -> None:
    slow = Job.objects.unscoped().get(pk=data.dead_letter.job_id)
    quick = data.due[0]
    process_due_jobs(max_jobs=5, budget_ms=5000, job_type="diagnostics.echo")
    delay_last_event(slow, minutes=5)
    client = logged_in(reader)

    page = client.get(JOBS, {"chains": "1h"}).content.decode()

    rows = re.findall(r'<tr data-correlation="([^"]+)">(.*?)</tr>', page, re.S)
    assert [correlation for correlation, _ in rows][:1] == [slow.correlation_id]
    assert quick.correlation_id in [correlation for correlation, _ in rows]
    first = rows[0][1]
    assert re.search(r'class="num took"[^>]*>5 min \d+ s<', first)
    assert f'<a href="?job={slow.pk}">{slow.pk}</a>' in first
    assert "job.created → " in first
    scoped = client.get(JOBS, {"chains": "1h", "tenant": data.tenant.slug}).content.decode()
    assert slow.correlation_id not in scoped and quick.correlation_id in scoped  # the slow one is the other's
    refused = client.get(JOBS, {"chains": "30d"})
    assert (
        refused.status_code == 400 and "Unknown window &#x27;30d&#x27;; one of 1h, 24h, 7d." in refused.content.decode()
    )


def test_an_operator_finds_a_slow_chain_and_opens_its_jobs_timeline(
    reader: User,
    data: ConsoleData,
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    slow = Job.objects.unscoped().get(pk=data.dead_letter.job_id)
    delay_last_event(slow, minutes=5)

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "reader", "/admin/ops/jobs/")
        page.click("#slow-chains-link")
        page.wait_for_selector("#slow-chains")
        seen["slowest"] = page.locator("#slow-chains tbody tr").first.get_attribute("data-correlation")
        page.screenshot(path=str(tmp_path / "slow-chains.png"), full_page=True)
        page.locator("#slow-chains tbody tr").first.locator("td.jobs a").first.click()
        page.wait_for_selector("#chain")
        seen["job"] = page.text_content("#job h2")
        seen["gaps"] = page.locator("#chain span.gap").all_text_contents()
        seen["ended"] = page.locator("#attempts td.ended").all_text_contents()
        page.screenshot(path=str(tmp_path / "job-timeline.png"), full_page=True)
        return seen

    seen = in_browser(chromium, steps)

    assert seen["slowest"] == slow.correlation_id
    assert seen["job"] == f"Job {slow.pk}: diagnostics.fail"
    assert any(gap.startswith("+5 min") for gap in seen["gaps"])
    assert len(seen["ended"]) == 1 and seen["ended"][0] != "running"
    for name in ("slow-chains.png", "job-timeline.png"):
        assert (tmp_path / name).stat().st_size > 10_000
