"""Uploads through the API on the local backend: declare, upload direct or through the relay, finalize."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from ballast.outbox.models import OutboxEvent
from ballast.tenants.models import AuditEntry, Tenant
from ballast.uploads import keys, services
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.tests.conftest import declare, multipart, pdf_bytes, sha256


def direct_post(created: dict[str, Any], data: bytes) -> Any:
    body, content_type = multipart(created["direct"]["fields"], data)
    return Client().post(created["direct"]["url"], data=body, content_type=content_type)


def audit_actions(target_type: str = "upload") -> list[str]:
    rows = AuditEntry.objects.unscoped().filter(target_type=target_type).order_by("id")
    return list(rows.values_list("action", flat=True))


def test_declaring_an_upload_returns_a_signed_direct_target_and_the_relay(tenant: Tenant, member: APIClient) -> None:
    data = pdf_bytes()

    response = declare(member, data, sha256=sha256(data))

    assert response.status_code == 201, response.json()
    body = response.json()
    intent = UploadIntent.objects.unscoped().get(pk=body["id"])
    assert body["mode"] == "direct" and body["status"] == "pending"
    assert body["direct"]["method"] == "POST" and body["direct"]["url"].startswith("http://testserver/api/v1/storage/")
    assert list(body["direct"]["fields"])[:2] == ["key", "Content-Type"]
    assert body["direct"]["fields"]["key"] == keys.tmp_key(tenant.pk, intent.uuid) == intent.storage_key
    assert body["relay"] == {"url": f"http://testserver/api/v1/uploads/{intent.pk}/content", "method": "PUT"}
    assert (intent.filename, intent.size, intent.sha256) == ("report.pdf", len(data), sha256(data))
    assert intent.kind == "direct"
    assert audit_actions() == ["upload.intent_created"]


def test_a_relay_only_upload_gets_no_direct_target(member: APIClient) -> None:
    body = declare(member, mode="relay").json()

    assert body["direct"] is None and body["mode"] == "relay"


def test_a_direct_upload_becomes_a_document_with_its_event(
    tenant: Tenant, member: APIClient, local_storage: Path
) -> None:
    data = pdf_bytes(10_000, seed=1)
    created = declare(member, data, sha256=sha256(data)).json()

    stored = direct_post(created, data)
    finalized = member.post(f"/api/v1/uploads/{created['id']}/finalize", HTTP_X_CORRELATION_ID="flow-1")

    assert stored.status_code == 204, stored.content
    assert finalized.status_code == 201, finalized.json()
    document = finalized.json()["document"]
    row = Document.objects.unscoped().get(pk=document["id"])
    assert (row.name, row.size, row.sha256, row.status) == ("report.pdf", len(data), sha256(data), "active")
    assert row.storage_key == f"t/{tenant.pk}/docs/{row.uuid}"
    assert (local_storage / row.storage_key).read_bytes() == data
    assert not (local_storage / created["direct"]["fields"]["key"]).exists()
    intent = UploadIntent.objects.unscoped().get(pk=created["id"])
    assert intent.status == "finalized" and intent.document_id == row.pk
    assert audit_actions() == ["upload.intent_created", "upload.received", "upload.finalized"]
    event = OutboxEvent.objects.unscoped().get(event_type="document.created")
    assert event.target_id == str(row.pk) and event.payload["kind"] == "direct"


def test_the_download_url_serves_the_bytes_as_an_attachment(member: APIClient) -> None:
    data = pdf_bytes(3000, seed=2)
    created = declare(member, data, filename="Quarterly report \u2013 ünïcode.pdf").json()
    direct_post(created, data)
    document = member.post(f"/api/v1/uploads/{created['id']}/finalize").json()["document"]

    download = Client().get(document["download_url"])

    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data  # type: ignore[attr-defined]
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''Quarterly%20report%20%E2%80%93%20%C3%BCn%C3%AFcode.pdf" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"


def test_a_forged_download_link_is_refused(member: APIClient) -> None:
    response = Client().get("/api/v1/storage/download/not-a-signed-token")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_the_relay_streams_the_body_and_finalize_makes_the_document(
    tenant: Tenant, member: APIClient, local_storage: Path
) -> None:
    # Bigger than DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): touching request.body would fail with 400.
    data = pdf_bytes(5 * 1024 * 1024 + 7, seed=3)
    created = declare(member, data, sha256=sha256(data), mode="relay").json()

    relayed = member.put(created["relay"]["url"], data=data, content_type="application/pdf")
    finalized = member.post(f"/api/v1/uploads/{created['id']}/finalize")

    assert relayed.status_code == 200, relayed.json()
    assert relayed.json()["status"] == "uploaded"
    assert finalized.status_code == 201
    row = Document.objects.unscoped().get(pk=finalized.json()["document"]["id"])
    assert (local_storage / row.storage_key).read_bytes() == data and row.sha256 == sha256(data)
    assert not list((local_storage / ".partial").iterdir())
    received = AuditEntry.objects.unscoped().get(action="upload.received")
    assert received.data["via"] == "relay" and received.data["bytes"] == len(data)


def test_a_direct_intent_falls_back_to_the_relay(member: APIClient) -> None:
    data = pdf_bytes(2048)
    created = declare(member, data).json()

    member.put(created["relay"]["url"], data=data, content_type="application/pdf")
    finalized = member.post(f"/api/v1/uploads/{created['id']}/finalize")

    assert finalized.status_code == 201
    assert UploadIntent.objects.unscoped().get(pk=created["id"]).kind == "relay"


def test_finalize_replayed_answers_200_with_the_same_document(member: APIClient) -> None:
    data = pdf_bytes()
    created = declare(member, data).json()
    direct_post(created, data)

    first = member.post(f"/api/v1/uploads/{created['id']}/finalize")
    second = member.post(f"/api/v1/uploads/{created['id']}/finalize")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["document"]["id"] == second.json()["document"]["id"]
    assert Document.objects.unscoped().count() == 1
    assert OutboxEvent.objects.unscoped().filter(event_type="document.created").count() == 1


def test_two_concurrent_finalizes_create_one_document(tenant: Tenant, member: APIClient) -> None:
    data = pdf_bytes(200_000)
    created = declare(member, data, sha256=sha256(data)).json()
    direct_post(created, data)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def finalize() -> None:
        barrier.wait()
        try:
            results.append(services.finalize(tenant_id=tenant.pk, intent_id=created["id"]))
        except Exception as exc:
            results.append(exc)
        finally:
            for connection in connections.all():
                connection.close()

    threads = [threading.Thread(target=finalize) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert all(isinstance(result, services.Finalized) for result in results), results
    assert sorted(result.created for result in results) == [False, True]
    assert len({result.document.pk for result in results}) == 1
    assert Document.objects.unscoped().count() == 1


def test_intents_are_listed_by_status(member: APIClient) -> None:
    data = pdf_bytes()
    first = declare(member, data).json()
    declare(member, data)
    direct_post(first, data)
    member.post(f"/api/v1/uploads/{first['id']}/finalize")

    finalized = member.get("/api/v1/uploads?status=finalized").json()["results"]
    pending = member.get("/api/v1/uploads?status=pending").json()["results"]
    wrong = member.get("/api/v1/uploads?status=nonsense")

    assert [row["id"] for row in finalized] == [first["id"]] and finalized[0]["document"] is not None
    assert len(pending) == 1 and pending[0]["id"] != first["id"]
    assert wrong.status_code == 400
