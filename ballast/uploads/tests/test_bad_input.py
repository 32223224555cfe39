"""Bad input, each a clear 4xx (problem details), and no orphan left in storage once the cleanup job has run."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db.models import F
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from ballast.jobs.models import Job
from ballast.jobs.worker.run import run_now
from ballast.tenants.models import Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.uploads import keys
from ballast.uploads.models import CleanupRun, UploadIntent
from ballast.uploads.scheduling import schedule_cleanup
from ballast.uploads.storage import get_storage
from ballast.uploads.tests.conftest import PNG_HEAD, declare, multipart, pdf_bytes, raw_exchange, sha256, stored_keys

PROBLEM = "application/problem+json"


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body.get("code") == code, body
    return body


def direct_post(created: dict[str, Any], data: bytes, **field_changes: str) -> Any:
    fields = {**created["direct"]["fields"], **field_changes}
    body, content_type = multipart(fields, data)
    return Client().post(created["direct"]["url"], data=body, content_type=content_type)


def run_cleanup_job(tenant: Tenant) -> CleanupRun:
    """Expire every intent past its grace period, then run the cleanup job as a worker would."""
    UploadIntent.objects.unscoped().update(expires_at=F("expires_at") - timedelta(days=1))
    job = schedule_cleanup(tenant_id=tenant.pk)
    run_now(job.pk)
    assert Job.objects.unscoped().get(pk=job.pk).status == "succeeded", Job.objects.unscoped().get(pk=job.pk).last_error
    return CleanupRun.objects.unscoped().get(job_id=job.pk)


def assert_no_orphans_after_cleanup(tenant: Tenant) -> CleanupRun:
    run = run_cleanup_job(tenant)
    assert stored_keys("tmp") == []
    return run


def test_names_that_could_be_paths_or_disguises_are_refused(member: APIClient) -> None:
    names = {
        "../../etc/passwd": "not a path",
        "report\x00.pdf": "NUL",
        "a" * 1000 + ".pdf": "1000 characters",
        "invoice\u202efdp.exe": "bidirectional override",
    }
    for name, why in names.items():
        body = problem(declare(member, filename=name), 400, "invalid")
        assert list(body["errors"]) == ["filename"], why
    assert UploadIntent.objects.unscoped().count() == 0


def test_declarations_over_the_limits_are_refused(member: APIClient, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    problem(declare(member, size=1001), 413, "upload_too_large")
    problem(declare(member, size=10, content_type="application/x-msdownload"), 415, "type_not_allowed")
    assert list(problem(declare(member, size=10, sha256="abc123"), 400)["errors"]) == ["sha256"]
    assert list(problem(declare(member, size=10, colour="blue"), 400)["errors"]) == ["colour"]
    assert list(problem(declare(member, size=10, mode="carrier-pigeon"), 400)["errors"]) == ["mode"]
    assert UploadIntent.objects.unscoped().count() == 0


def test_a_tenant_over_its_quota_is_refused(member: APIClient, settings: Any) -> None:
    settings.TENANT_STORAGE_QUOTA_BYTES = 10_000
    assert declare(member, pdf_bytes(6000)).status_code == 201

    body = problem(declare(member, pdf_bytes(6000)), 413, "quota_exceeded")

    assert "6000 of its 10000 bytes" in body["detail"]
    assert declare(member, pdf_bytes(4000)).status_code == 201


def test_a_tampered_policy_or_an_expired_signature_is_refused_with_403(tenant: Tenant, member: APIClient) -> None:
    data = pdf_bytes()
    created = declare(member, data).json()
    fields = created["direct"]["fields"]
    document = json.loads(base64.b64decode(fields["policy"]))
    document["conditions"][3] = ["content-length-range", 0, 10**9]
    widened = base64.b64encode(json.dumps(document).encode()).decode()

    other_type = direct_post(created, data, **{"Content-Type": "text/html"})
    other_key = direct_post(created, data, key=keys.docs_key(tenant.pk, uuid.UUID(fields["key"].rsplit("/", 1)[1])))
    forged_policy = direct_post(created, data, policy=widened)
    intruder = direct_post(created, data, **{"x-amz-meta-owner": "mallory"})
    expired = get_storage().direct_upload(
        key=fields["key"], content_type="application/pdf", size=len(data), sha256="", expires_at=timezone.now()
    )
    late = direct_post({"direct": {"url": created["direct"]["url"], "fields": expired.fields}}, data)

    for response in (other_type, other_key, forged_policy, intruder, late):
        problem(response, 403, "AccessDenied")
    assert "expired" in late.json()["detail"]
    assert stored_keys() == []


def test_more_bytes_than_the_policy_allows_are_refused_and_not_kept(tenant: Tenant, member: APIClient) -> None:
    created = declare(member, pdf_bytes(1000)).json()

    too_many = direct_post(created, pdf_bytes(1001))
    too_few = direct_post(created, pdf_bytes(999))

    problem(too_many, 400, "EntityTooLarge")
    problem(too_few, 400, "EntityTooSmall")
    assert stored_keys() == []
    problem(member.post(f"/api/v1/uploads/{created['id']}/finalize"), 409, "not_uploaded")


def test_the_relay_refuses_a_body_that_does_not_match_the_declaration(
    tenant: Tenant, member: APIClient, local_storage: Path
) -> None:
    data = pdf_bytes(3000)
    created = declare(member, data, sha256=sha256(data)).json()
    url = created["relay"]["url"]

    problem(member.put(url, data=data + b"x", content_type="application/pdf"), 413, "upload_too_large")
    problem(member.put(url, data=data[:-1], content_type="application/pdf"), 400, "invalid")
    problem(member.put(url, data=data, content_type="application/pdf", CONTENT_LENGTH=""), 411, "length_required")
    problem(member.put(url, data=data, content_type="image/png"), 415, "type_not_allowed")
    tampered = data[:-1] + b"!"
    problem(member.put(url, data=tampered, content_type="application/pdf"), 422, "checksum_mismatch")

    assert stored_keys() == [] and not list((local_storage / ".partial").iterdir())
    assert UploadIntent.objects.unscoped().get(pk=created["id"]).status == "pending"


def test_a_body_shorter_than_its_content_length_leaves_nothing(
    tenant: Tenant, make_token: Any, web_server: str, local_storage: Path
) -> None:
    token = make_token(tenant, Role.MEMBER)
    data = pdf_bytes(4000)
    created = declare(client_for(token), data, mode="relay").json()
    head = (
        f"PUT /api/v1/uploads/{created['id']}/content HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()

    answer = raw_exchange(web_server, head, data[:2500], half_close=True)

    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"incomplete_body" in answer and b"after 2500 of 4000 bytes" in answer
    assert stored_keys() == [] and not list((local_storage / ".partial").iterdir())
    assert_no_orphans_after_cleanup(tenant)


def test_bytes_beyond_content_length_never_reach_storage(tenant: Tenant, make_token: Any, web_server: str) -> None:
    token = make_token(tenant, Role.MEMBER)
    real = pdf_bytes(4000, seed=9)
    # The client declares (and announces) 3000 bytes but sends all 4000, with the real file's checksum.
    created = declare(client_for(token), real[:3000], sha256=sha256(real), mode="relay").json()
    head = (
        f"PUT /api/v1/uploads/{created['id']}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\nContent-Length: 3000\r\n\r\n"
    ).encode()

    answer = raw_exchange(web_server, head, real)

    # The body ends where Content-Length says: the surplus is not part of it, and what arrived fails the checksum.
    assert answer.startswith(b"HTTP/1.1 422"), answer[:300]
    assert b"checksum_mismatch" in answer
    assert stored_keys() == []


def test_bytes_that_contradict_the_declared_type_fail_finalize(tenant: Tenant, member: APIClient) -> None:
    png = PNG_HEAD + bytes(2000)
    as_pdf = declare(member, png).json()
    as_text = declare(member, png, filename="notes.txt", content_type="text/plain").json()
    for created in (as_pdf, as_text):
        direct_post(created, png)

    refused_pdf = problem(member.post(f"/api/v1/uploads/{as_pdf['id']}/finalize"), 422, "verification_failed")
    refused_text = problem(member.post(f"/api/v1/uploads/{as_text['id']}/finalize"), 422, "verification_failed")
    again = problem(member.post(f"/api/v1/uploads/{as_pdf['id']}/finalize"), 422, "verification_failed")

    assert refused_pdf["detail"] == "Declared application/pdf, but the bytes are image/png." == again["detail"]
    assert refused_text["detail"] == "Declared text/plain, but the bytes are image/png."
    assert set(UploadIntent.objects.unscoped().values_list("status", flat=True)) == {"failed"}
    assert stored_keys() == []
    assert_no_orphans_after_cleanup(tenant)


def test_finalize_before_the_upload_and_after_expiry(tenant: Tenant, member: APIClient) -> None:
    data = pdf_bytes()
    early = declare(member, data).json()
    late = declare(member, data).json()
    direct_post(late, data)
    UploadIntent.objects.unscoped().filter(pk=late["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    problem(member.post(f"/api/v1/uploads/{early['id']}/finalize"), 409, "not_uploaded")
    problem(member.post(f"/api/v1/uploads/{late['id']}/finalize"), 410, "upload_expired")
    problem(member.put(late["relay"]["url"], data=data, content_type="application/pdf"), 410, "upload_expired")

    assert UploadIntent.objects.unscoped().get(pk=late["id"]).status == "expired"
    run = assert_no_orphans_after_cleanup(tenant)
    assert run.intents_cleaned == 2 and run.bytes_freed == len(data)


def test_another_tenants_uploads_and_documents_are_not_found(
    tenant: Tenant, other_tenant: Tenant, member: APIClient, make_token: Any
) -> None:
    data = pdf_bytes()
    created = declare(member, data).json()
    direct_post(created, data)
    document = member.post(f"/api/v1/uploads/{created['id']}/finalize").json()["document"]
    intruder = client_for(make_token(other_tenant, Role.ADMIN))

    responses = [
        intruder.get(f"/api/v1/uploads/{created['id']}"),
        intruder.put(created["relay"]["url"], data=data, content_type="application/pdf"),
        intruder.post(f"/api/v1/uploads/{created['id']}/finalize"),
        intruder.get(f"/api/v1/documents/{document['id']}"),
        intruder.delete(f"/api/v1/documents/{document['id']}"),
        intruder.post(f"/api/v1/documents/{document['id']}/purge"),
    ]

    assert [response.status_code for response in responses] == [404] * 6
    assert intruder.get("/api/v1/documents").json()["results"] == []
    assert member.get(f"/api/v1/documents/{document['id']}").json()["status"] == "active"
