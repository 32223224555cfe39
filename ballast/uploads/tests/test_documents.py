"""Documents: read with a download link, trash, restore and purge, each step an event of the upload's flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client
from rest_framework.test import APIClient

from ballast.tenants.models import AuditEntry, Role, Tenant
from ballast.tenants.tests.conftest import client_for
from ballast.uploads.models import Document
from ballast.uploads.tests.conftest import multipart, pdf_bytes


def upload(client: APIClient, data: bytes, correlation_id: str) -> dict[str, Any]:
    declaration = {"filename": "report.pdf", "content_type": "application/pdf", "size": len(data)}
    created = client.post("/api/v1/uploads", declaration, format="json", HTTP_X_CORRELATION_ID=correlation_id).json()
    body, content_type = multipart(created["direct"]["fields"], data)
    assert Client().post(created["direct"]["url"], data=body, content_type=content_type).status_code == 204
    finalized = client.post(f"/api/v1/uploads/{created['id']}/finalize", HTTP_X_CORRELATION_ID=correlation_id)
    document: dict[str, Any] = finalized.json()["document"]
    return document


def test_a_document_goes_to_the_trash_comes_back_and_is_purged_with_an_event_each(
    tenant: Tenant, member: APIClient, admin: APIClient, local_storage: Path
) -> None:
    data = pdf_bytes(5000)
    document = upload(member, data, "flow-42")
    path = f"/api/v1/documents/{document['id']}"

    listed = member.get("/api/v1/documents").json()["results"]
    trashed = member.delete(path)
    trash = member.get("/api/v1/trash").json()["results"]
    trashed_detail = member.get(path).json()
    restored = member.post(f"{path}/restore")
    purged = admin.post(f"{path}/purge")
    tombstone = member.get(path).json()
    purged_again = admin.post(f"{path}/purge")

    assert [row["id"] for row in listed] == [document["id"]]
    assert trashed.status_code == 200 and trashed.json()["status"] == "trashed"
    assert [row["id"] for row in trash] == [document["id"]]
    assert trashed_detail["download_url"] is None
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    assert purged.status_code == 200 and purged.json()["status"] == "purged"
    assert tombstone["status"] == "purged" and tombstone["download_url"] is None and tombstone["name"] == "report.pdf"
    assert purged_again.status_code == 200
    row = Document.objects.unscoped().get(pk=document["id"])
    assert not (local_storage / row.storage_key).exists() and row.object_deleted_at is not None
    events = admin.get("/api/v1/events?correlation_id=flow-42").json()["results"]
    assert [event["type"] for event in reversed(events)] == [
        "document.created",
        "document.trashed",
        "document.restored",
        "document.purged",
    ]
    assert {event["data"]["document_id"] for event in events} == {document["id"]}
    actions = AuditEntry.objects.unscoped().filter(target_type="document").order_by("id")
    assert [entry.action for entry in actions] == [
        "document.created",
        "document.trashed",
        "document.restored",
        "document.purged",
    ]


def test_who_may_do_what_to_a_document(tenant: Tenant, member: APIClient, make_token: Any) -> None:
    document = upload(member, pdf_bytes(), "flow-7")
    path = f"/api/v1/documents/{document['id']}"
    viewer = client_for(make_token(tenant, Role.VIEWER))

    assert viewer.get(path).status_code == 200
    assert viewer.delete(path).status_code == 403
    assert viewer.post("/api/v1/uploads", {}, format="json").status_code == 403
    assert member.post(f"{path}/purge").status_code == 403
    assert member.post(f"{path}/restore").status_code == 409  # not in the trash
    assert Document.objects.unscoped().get(pk=document["id"]).status == "active"
