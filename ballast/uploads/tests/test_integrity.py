"""What a document records is what storage holds, a direct policy serves one upload, a trashed document's links
stop at once, and link tokens stay out of the logs. Against the local backend and moto's S3 server."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now
from django.test import Client
from rest_framework.test import APIClient

from ballast.jobs.models import Job
from ballast.jobs.testing import run_due_jobs
from ballast.tenants.audit import AuditEntry
from ballast.tenants.models import Tenant
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.storage.s3 import S3Storage
from ballast.uploads.tests.conftest import declare, http_request, pdf_bytes, post_form, sha256, stored_keys
from ballast.uploads.tests.test_uploads_api import direct_post


def _finalize(member: APIClient, created: dict[str, Any]) -> dict[str, Any]:
    response = member.post(f"/api/v1/uploads/{created['id']}/finalize")
    assert response.status_code == 201, response.json()
    return dict(response.json()["document"])


def _post_direct(created: dict[str, Any], data: bytes) -> int:
    """The direct POST to whichever storage signed the policy (the app for local disk, moto for S3)."""
    url = created["direct"]["url"]
    if url.startswith("http://testserver"):
        return int(direct_post(created, data).status_code)
    status, _ = post_form(url, created["direct"]["fields"], data)
    return status


def _download(url: str) -> tuple[int, bytes]:
    """Follow the link as a browser would: the app, then (S3) the storage it redirects to."""
    response = Client().get(url)
    if response.status_code == 302:
        status, _, content = http_request("GET", response["Location"])
        return status, content
    content = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    return response.status_code, content


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "s3":
        request.getfixturevalue("s3")
    return str(request.param)


def test_finalize_records_the_checksum_of_the_bytes_storage_holds_not_of_what_the_relay_saw(
    member: APIClient, backend: str
) -> None:
    relayed, posted = pdf_bytes(4096, seed=1), pdf_bytes(4096, seed=2)
    created = declare(member, relayed).json()
    assert member.put(created["relay"]["url"], data=relayed, content_type="application/pdf").status_code == 200

    assert _post_direct(created, posted) == 204  # the policy is still valid: the object is replaced
    document = _finalize(member, created)

    row = Document.objects.unscoped().get(pk=document["id"])
    assert row.sha256 == sha256(posted)
    assert _download(document["download_url"]) == (200, posted)


def test_a_direct_policy_is_refused_once_its_upload_is_finalized(member: APIClient) -> None:
    data = pdf_bytes(2048)
    created = declare(member, data).json()
    assert _post_direct(created, data) == 204
    _finalize(member, created)

    replay = direct_post(created, pdf_bytes(2048, seed=7))

    assert replay.status_code == 403 and "no longer open" in replay.json()["detail"]
    assert stored_keys("tmp") == []


def test_an_s3_upload_replayed_after_finalize_is_deleted_once_its_policy_expires(
    tenant: Tenant, member: APIClient, s3: S3Storage
) -> None:
    data = pdf_bytes(2048)
    created = declare(member, data).json()
    post_form(created["direct"]["url"], created["direct"]["fields"], data)
    _finalize(member, created)
    # S3 cannot revoke a presigned POST: the replay is stored, under a key no intent can use any more.
    post_form(created["direct"]["url"], created["direct"]["fields"], pdf_bytes(2048, seed=3))
    assert s3.head(created["direct"]["fields"]["key"]) is not None

    job = Job.objects.unscoped().get(job_type="uploads.consume_key")
    assert job.available_at > UploadIntent.objects.unscoped().get(pk=created["id"]).expires_at
    Job.objects.unscoped().filter(pk=job.pk).update(available_at=Now())  # the policy's expiry has come
    run_due_jobs(tenant_id=tenant.pk, job_type="uploads.consume_key")

    assert Job.objects.unscoped().get(pk=job.pk).status == "succeeded"
    assert s3.head(created["direct"]["fields"]["key"]) is None
    deleted = AuditEntry.objects.unscoped().get(action="upload.replay_deleted")
    assert deleted.target_id == str(created["id"]) and deleted.data["bytes"] == 2048


def test_trashing_a_document_stops_its_download_links_at_once(member: APIClient, backend: str) -> None:
    data = pdf_bytes(3000, seed=4)
    created = declare(member, data).json()
    assert _post_direct(created, data) == 204
    document = _finalize(member, created)
    assert _download(document["download_url"]) == (200, data)

    assert member.delete(f"/api/v1/documents/{document['id']}").status_code == 200
    after_trash = Client().get(document["download_url"])

    assert after_trash.status_code == 404
    assert after_trash["Content-Type"] == "application/problem+json"
    assert member.post(f"/api/v1/documents/{document['id']}/restore").status_code == 200
    assert _download(document["download_url"]) == (200, data)  # restored: the same link works again


def test_a_link_for_another_tenants_document_id_is_refused(member: APIClient) -> None:
    data = pdf_bytes(1000)
    created = declare(member, data).json()
    direct_post(created, data)
    document = _finalize(member, created)
    token = document["download_url"].rsplit("/", 1)[1]
    # Flip one character of the signature: forged or altered links are refused, not resolved.
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert Client().get(f"/api/v1/storage/download/{forged}").status_code == 403


def test_download_tokens_never_reach_the_request_log(member: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    data = pdf_bytes(1000)
    created = declare(member, data).json()
    direct_post(created, data)
    document = _finalize(member, created)
    token = document["download_url"].rsplit("/", 1)[1]
    member.delete(f"/api/v1/documents/{document['id']}")

    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert Client().get(document["download_url"]).status_code == 404  # Django logs every 4xx

    handler = logging.getLogger().handlers[0]
    logged = [handler.format(record) for record in caplog.records if record.name == "django.request"]
    assert logged and all("/storage/download/[redacted]" in line for line in logged)
    assert not any(token in line for line in logged)


def test_gunicorn_access_log_lines_hide_download_tokens_and_storage_signatures() -> None:
    from gunicorn.config import Config  # type: ignore[import-untyped]

    from config import gunicorn as gunicorn_config
    from config.access_log import RedactingLogger

    assert gunicorn_config.logger_class == "config.access_log.RedactingLogger"
    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/storage/download/eyJ0IjoxfQ:1abc:SIGNATURE?x=1",
        "PATH_INFO": "/api/v1/storage/download/eyJ0IjoxfQ:1abc:SIGNATURE",
        "QUERY_STRING": "x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://files.example/doc?X-Amz-Signature=abcdef0123&X-Amz-Credential=KEY",
        "REMOTE_ADDR": "10.0.0.1",
    }

    class _Response:
        status = "200 OK"
        sent = 10
        headers: list[tuple[str, str]] = []

    class _Request:
        headers: list[tuple[str, str]] = []

    atoms = logger.atoms(_Response(), _Request(), environ, timedelta(milliseconds=5))

    line = logger.cfg.access_log_format % atoms
    assert "SIGNATURE" not in line and "eyJ0IjoxfQ" not in line and "abcdef0123" not in line
    assert "/api/v1/storage/download/[redacted]" in line and "X-Amz-Signature=[redacted]" in line
