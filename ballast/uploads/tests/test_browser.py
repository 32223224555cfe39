"""The browser client in headless Chromium (Debian's, driven by Playwright) against the app as a real server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings

from ballast.tenants.models import Role, Tenant
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.tests.conftest import pdf_bytes, sha256

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
T = TypeVar("T")
# The first browser test may install Chromium (apt-get) on a fresh machine: allow it more than the usual 120 s.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed by scripts/chromium.sh (apt-get, as root) when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        installed = subprocess.run(
            ["bash", "scripts/chromium.sh"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=900
        )
        if installed.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"Debian's chromium is missing and cannot be installed here: {installed.stderr[-400:]}")
    return CHROMIUM


def in_browser(chromium: str, steps: Callable[[Any], T]) -> T:
    """Run `steps(page)` in a fresh headless Chromium, in a thread of its own: Playwright's sync API keeps an
    event loop in its thread, which Django would take for an async context. Fails if the page logged a
    Content-Security-Policy violation (an inline script or style, or another origin, that the policy blocked)."""

    def run() -> T:
        with playwright_sync.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(accept_downloads=True)
                page.set_default_timeout(30_000)
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                result = steps(page)
                violations = [text for text in console if "Content Security Policy" in text]
                assert not violations, violations
                return result
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=180)


def upload_in_page(page: Any, name: str, data: bytes) -> str:
    page.set_input_files("#file", files=[{"name": name, "mimeType": "application/pdf", "buffer": data}])
    page.click("#upload")
    page.wait_for_function("() => ['done', 'error'].includes(document.getElementById('status').dataset.state)")
    return str(page.text_content("#status"))


def click_and_wait(page: Any, action: str, state: str) -> None:
    page.click(f"#documents li:first-child button[data-action={action}]")
    page.wait_for_selector(f"#documents li:first-child[data-status={state}]")


def test_a_direct_upload_from_the_browser_becomes_a_document_that_lives_through_the_trash(
    tenant: Tenant, make_token: Any, web_server: str, chromium: str, local_storage: Path, tmp_path: Path
) -> None:
    token = make_token(tenant, Role.ADMIN)
    data = pdf_bytes(300_000, seed=11)

    def steps(page: Any) -> dict[str, Any]:
        page.goto(f"{web_server}/uploads/demo?token={token}")
        status = upload_in_page(page, "browser report.pdf", data)
        via = page.get_attribute("#documents li:first-child", "data-via")
        with page.expect_download() as download:
            page.click("#documents li:first-child button[data-action=download]")
        target = tmp_path / "downloaded.pdf"
        download.value.save_as(target)
        for action, state in (("trash", "trashed"), ("restore", "active"), ("purge", "purged")):
            click_and_wait(page, action, state)
        page.wait_for_function("() => (document.getElementById('events').dataset.types || '').includes('purged')")
        return {
            "status": status,
            "via": via,
            "downloaded": target.read_bytes(),
            "name": download.value.suggested_filename,
            "events": page.get_attribute("#events", "data-types"),
        }

    seen = in_browser(chromium, steps)

    assert seen["status"] == "Uploaded via direct.", seen["status"]
    assert seen["via"] == "direct"
    assert seen["downloaded"] == data and seen["name"] == "browser report.pdf"
    assert seen["events"].split() == ["document.purged", "document.restored", "document.trashed", "document.created"]
    intent = UploadIntent.objects.unscoped().get()
    document = Document.objects.unscoped().get()
    assert (intent.kind, intent.status, intent.document_id) == ("direct", "finalized", document.pk)
    assert (document.size, document.sha256, document.status) == (len(data), sha256(data), "purged")
    assert not (local_storage / document.storage_key).exists()


def test_when_the_direct_upload_fails_the_same_call_succeeds_through_the_relay(
    tenant: Tenant, make_token: Any, web_server: str, chromium: str, local_storage: Path
) -> None:
    token = make_token(tenant, Role.MEMBER)
    unreachable, refused = pdf_bytes(150_000, seed=12), pdf_bytes(90_000, seed=13)

    def steps(page: Any) -> list[str]:
        page.goto(f"{web_server}/uploads/demo?token={token}")
        page.route("**/api/v1/storage/direct", lambda route: route.abort("connectionrefused"))
        statuses = [upload_in_page(page, "unreachable.pdf", unreachable)]
        page.unroute("**/api/v1/storage/direct")
        page.check("#tamper")  # the policy no longer matches its signature: storage answers 403
        statuses.append(upload_in_page(page, "refused.pdf", refused))
        return statuses

    statuses = in_browser(chromium, steps)

    assert statuses[0].startswith("Uploaded via relay (direct upload failed: POST"), statuses[0]
    assert statuses[1] == "Uploaded via relay (direct upload failed: storage answered 403).", statuses[1]
    documents = {row.name: row for row in Document.objects.unscoped().all()}
    assert {name: row.sha256 for name, row in documents.items()} == {
        "unreachable.pdf": sha256(unreachable),
        "refused.pdf": sha256(refused),
    }
    assert set(UploadIntent.objects.unscoped().values_list("kind", "status")) == {("relay", "finalized")}
    assert (local_storage / documents["refused.pdf"].storage_key).read_bytes() == refused
