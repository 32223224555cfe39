"""The consoles' filters, live fragments, wake-ups and assets, through Django's test client: every control keeps
the page's filters, an unknown filter value is a 400 that says what was wrong, a live refresh gets the content
without the admin's chrome, and the front-end libraries are the pinned ones, served locally."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from ballast.jobs import wakeups
from ballast.jobs.models import Pause
from ballast.ops.durations import humanise_ms
from ballast.ops.tests.conftest import ConsoleData

QUEUE, JOBS, UPLOADS = "/admin/ops/queue/", "/admin/ops/jobs/", "/admin/ops/uploads/"
VENDOR = Path(settings.BASE_DIR) / "ballast" / "ops" / "static" / "ops" / "vendor"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(page: str, form_id: str) -> str:
    found = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)
    assert found, f"no form #{form_id}"
    return found.group(0)


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{value}">'


def test_an_unknown_tenant_window_queue_or_status_is_a_400_that_says_so(reader: User, data: ConsoleData) -> None:
    client = logged_in(reader)
    for url, query, reason in (
        (QUEUE, {"tenant": "nosuch"}, "There is no tenant &#x27;nosuch&#x27;."),
        (JOBS, {"tenant": "nosuch", "status": "failed"}, "There is no tenant &#x27;nosuch&#x27;."),
        (UPLOADS, {"tenant": "nosuch"}, "There is no tenant &#x27;nosuch&#x27;."),
        (QUEUE, {"window": "30d"}, "Unknown window &#x27;30d&#x27;: choose one of 1h, 24h, 7d."),
        (QUEUE, {"queue": "nosuch"}, "Unknown queue &#x27;nosuch&#x27;"),
        (JOBS, {"status": "nosuch"}, "Unknown status &#x27;nosuch&#x27;"),
    ):
        response = client.get(url, query)
        page = response.content.decode()
        assert response.status_code == 400, (url, query)
        assert 'id="refused"' in page and reason in page, (url, query)
    assert client.get(QUEUE, {"tenant": data.tenant.slug, "window": "7d"}).status_code == 200


def test_picking_a_tenant_keeps_every_other_filter_of_the_page(reader: User, data: ConsoleData) -> None:
    client = logged_in(reader)
    page = client.get(JOBS, {"status": "failed", "job_type": "diagnostics.fail", "before": "99"}).content.decode()
    tenant_form = form(page, "tenant-filter")
    assert hidden("status", "failed") in tenant_form and hidden("job_type", "diagnostics.fail") in tenant_form
    assert 'name="before"' not in tenant_form  # a cursor of another filter means nothing

    page = client.get(QUEUE, {"window": "24h", "queue": "default", "tenant": data.tenant.slug}).content.decode()
    tenant_form = form(page, "tenant-filter")
    assert hidden("window", "24h") in tenant_form and hidden("queue", "default") in tenant_form
    assert 'name="tenant"' in tenant_form and hidden("tenant", data.tenant.slug) not in tenant_form
    queue_form = form(page, "trend-queue")
    assert hidden("window", "24h") in queue_form and hidden("tenant", data.tenant.slug) in queue_form
    assert f'href="?window=1h&amp;queue=default&amp;tenant={data.tenant.slug}"' in page  # the window links


def test_a_job_link_and_an_action_keep_the_filters(operator: User, data: ConsoleData) -> None:
    client = logged_in(operator)
    page = client.get(JOBS, {"status": "failed", "tenant": data.other.slug}).content.decode()
    job_id = data.dead_letter.job_id
    assert f'href="?status=failed&amp;tenant={data.other.slug}&amp;job={job_id}"' in page
    detail = f"{JOBS}?status=failed&tenant={data.other.slug}&job={job_id}"
    back = f'href="{JOBS}?status=failed&amp;tenant={data.other.slug}">Ops: jobs</a>'
    assert back in client.get(detail).content.decode()  # the breadcrumb back to the filtered list
    response = client.post(detail, {"action": "retry", "job_id": str(job_id)})
    assert response.status_code == 302 and response["Location"] == detail

    response = client.post(
        f"{QUEUE}?window=24h&queue=default&tenant={data.tenant.slug}",
        {"action": "pause", "kind": "queue", "target": "default"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE}?window=24h&queue=default&tenant={data.tenant.slug}"
    assert Pause.objects.using("system").filter(kind="queue", name="default").exists()


def test_a_live_refresh_gets_the_pages_content_without_the_admins_chrome(reader: User, data: ConsoleData) -> None:
    client = logged_in(reader)
    for url in (QUEUE, JOBS, UPLOADS, f"{JOBS}?job={data.dead_letter.job_id}"):
        full = client.get(url)
        live = client.get(url, headers={"HX-Request": "true"})
        assert live.status_code == full.status_code == 200
        assert "HX-Request" in live["Vary"]
        assert "<html" in full.content.decode() and "<html" not in live.content.decode()
        assert 'id="ops-live"' in live.content.decode() and 'id="ops-live"' in full.content.decode()
        assert f'hx-get="{url}"' in full.content.decode()


def test_the_django_rq_dashboard_is_gone_and_the_queue_page_shows_the_wake_ups(reader: User, data: ConsoleData) -> None:
    superuser = User.objects.create_superuser("root", password="x")
    client = logged_in(superuser)
    index = client.get("/admin/").content.decode()
    assert "django_rq" not in index and "Django RQ" not in index
    assert client.get("/admin/django_rq/dashboard/").status_code == 404

    wakeups.rq_queue("default").empty()
    wakeups.redis_connection().delete(*(wakeups.key("default", t.pk) for t in (data.tenant, data.other)))
    assert wakeups.wake([("default", data.tenant.pk), ("default", data.other.pk)]) == 2
    page = logged_in(reader).get(QUEUE).content.decode()
    assert re.search(r'<tr data-queue="default"><td>default</td><td class="num waiting">2</td>', page)
    assert 'data-queue="scheduler"><td>scheduler</td><td class="num waiting">' not in page


def test_durations_read_in_their_largest_unit(reader: User, data: ConsoleData) -> None:
    page = logged_in(reader).get(QUEUE).content.decode()
    assert re.search(r'id="outbox-lag">Outbox lag<b>(none|\d+(\.\d)? (ms|s|min|h|d))</b>', page)
    assert [humanise_ms(v) for v in (None, 0.4, 850, 4200, 782_487.8, 9_000_000, 3 * 86_400_000)] == [
        "\N{EN DASH}",
        "0.4 ms",
        "850 ms",
        "4.2 s",
        "13 min",
        "2.5 h",
        "3 d",
    ]


def test_the_console_serves_the_pinned_libraries_itself(reader: User, data: ConsoleData) -> None:
    lock = json.loads((Path(settings.BASE_DIR) / "package-lock.json").read_text())["packages"]
    pinned = json.loads((Path(settings.BASE_DIR) / "package.json").read_text())["dependencies"]
    vendored = json.loads((VENDOR / "versions.json").read_text())
    assert vendored == pinned == {name: lock[f"node_modules/{name}"]["version"] for name in pinned}
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"):
        assert (VENDOR / name).stat().st_size > 1000
    page = logged_in(reader).get(QUEUE).content.decode()
    sources = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert {"/static/ops/vendor/htmx.min.js", "/static/ops/vendor/uPlot.iife.min.js"} <= set(sources)
    assert not [src for src in sources if "//" in src]  # nothing from another host
    assert not re.search(r"<script(?![^>]*src=)[^>]*>", page)  # no inline script
