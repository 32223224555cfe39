"""Every page carries a Content-Security-Policy that allows only the app's own scripts and styles, and Ballast's
own pages hold no inline script, style block or style attribute that the policy would block."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.I)


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/me", "/admin/login/", "/uploads/demo", "/api/schema/"])
def test_every_response_carries_the_policy(path: str) -> None:
    response = Client().get(path)

    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]


@pytest.mark.usefixtures("committed")
def test_the_consoles_admin_and_demo_pages_hold_nothing_inline() -> None:
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(get_user_model().objects.get(username="root"))

    for path in [
        "/admin/",
        "/admin/ops/queue/",
        "/admin/ops/jobs/",
        "/admin/ops/schedules/",
        "/admin/ops/batches/",
        "/admin/ops/uploads/",
        "/uploads/demo",
    ]:
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html))
        assert not INLINE_STYLE.search(html), (path, INLINE_STYLE.search(html))


def test_the_api_docs_load_their_script_from_a_url_and_allow_only_swagger_ui_inline_styles() -> None:
    page = Client().get("/api/docs/")

    assert page.status_code == 200
    assert not INLINE_SCRIPT.search(page.content.decode())
    policy = _directives(page["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # Swagger UI sets style attributes itself


def test_a_configured_policy_replaces_the_default(settings) -> None:
    settings.CONTENT_SECURITY_POLICY = "default-src 'self'; connect-src 'self' https://bucket.example"

    response = Client().get("/healthz")

    assert response["Content-Security-Policy"] == "default-src 'self'; connect-src 'self' https://bucket.example"
