"""The S3 backend against moto's standalone server, a real process spoken to over HTTP.

moto does not enforce POST-policy conditions or expiry, so these tests also show finalize enforcing what the
storage did not: size, type and checksum, read back by HEAD and GET.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from ballast.tenants.models import Tenant
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.storage.base import IncompleteBody
from ballast.uploads.storage.s3 import PART_BYTES, S3Storage
from ballast.uploads.tests.conftest import declare, http_request, pdf_bytes, post_form, sha256
from ballast.uploads.tests.test_bad_input import assert_no_orphans_after_cleanup


def keys_in(storage: S3Storage) -> list[str]:
    listed = storage.client.list_objects_v2(Bucket=storage.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_a_presigned_post_upload_becomes_a_document_downloadable_as_an_attachment(
    tenant: Tenant, member: APIClient, s3: S3Storage
) -> None:
    data = pdf_bytes(20_000, seed=5)
    created = declare(member, data, sha256=sha256(data), filename="plan ü.pdf").json()
    direct = created["direct"]

    status, body = post_form(direct["url"], direct["fields"], data)
    finalized = member.post(f"/api/v1/uploads/{created['id']}/finalize")

    assert direct["url"].startswith(s3.client.meta.endpoint_url)
    policy_fields = set(direct["fields"])
    assert {"key", "Content-Type", "policy", "x-amz-signature", "x-amz-credential"} <= policy_fields
    assert status == 204, body
    assert finalized.status_code == 201, finalized.json()
    document = finalized.json()["document"]
    row = Document.objects.unscoped().get(pk=document["id"])
    assert keys_in(s3) == [row.storage_key]  # moved under docs/, the tmp/ copy deleted after commit
    assert s3.head(row.storage_key) is not None and s3.head(row.storage_key).content_type == "application/pdf"  # type: ignore[union-attr]
    link = Client().get(document["download_url"])  # the app checks the document, then sends to S3
    assert link.status_code == 302 and link["Location"].startswith(s3.client.meta.endpoint_url)
    code, headers, content = http_request("GET", link["Location"])
    assert code == 200 and content == data
    assert headers["content-disposition"].startswith("attachment;")
    assert "filename*=utf-8''plan%20%C3%BC.pdf" in headers["content-disposition"]


def test_the_relay_writes_multipart_uploads_to_s3(tenant: Tenant, member: APIClient, s3: S3Storage) -> None:
    data = pdf_bytes(PART_BYTES + 123_456, seed=6)
    created = declare(member, data, sha256=sha256(data), mode="relay").json()

    relayed = member.put(created["relay"]["url"], data=data, content_type="application/pdf")
    finalized = member.post(f"/api/v1/uploads/{created['id']}/finalize")

    assert relayed.status_code == 200 and finalized.status_code == 201
    row = Document.objects.unscoped().get(pk=finalized.json()["document"]["id"])
    assert b"".join(s3.read(row.storage_key)) == data and row.sha256 == sha256(data)


def test_what_moto_lets_through_finalize_refuses_and_cleanup_removes(
    tenant: Tenant, member: APIClient, s3: S3Storage
) -> None:
    data = pdf_bytes(1000)
    oversize = declare(member, data).json()
    wrong_bytes = declare(member, data, sha256=sha256(data)).json()
    post_form(oversize["direct"]["url"], oversize["direct"]["fields"], pdf_bytes(5000))  # policy says 1000
    post_form(wrong_bytes["direct"]["url"], wrong_bytes["direct"]["fields"], pdf_bytes(1000, seed=99))

    too_big = member.post(f"/api/v1/uploads/{oversize['id']}/finalize")
    tampered = member.post(f"/api/v1/uploads/{wrong_bytes['id']}/finalize")

    assert too_big.status_code == 422 and too_big.json()["detail"] == "Storage holds 5000 bytes; 1000 were declared."
    assert tampered.status_code == 422 and "SHA-256" in tampered.json()["detail"]
    assert set(UploadIntent.objects.unscoped().values_list("status", flat=True)) == {"failed"}
    assert keys_in(s3) == []
    stray = declare(member, data).json()
    post_form(stray["direct"]["url"], stray["direct"]["fields"], data)  # uploaded, never finalized
    assert len(keys_in(s3)) == 1
    assert_no_orphans_after_cleanup(tenant)
    assert keys_in(s3) == []


def test_a_relay_cut_short_leaves_no_object_and_no_multipart_upload(s3: S3Storage) -> None:
    key = "t/1/tmp/00000000-0000-4000-8000-000000000001"
    short = io.BytesIO(pdf_bytes(PART_BYTES + 10))

    with pytest.raises(IncompleteBody):
        s3.write(key=key, stream=short, size=PART_BYTES * 2, content_type="application/pdf")

    assert keys_in(s3) == []
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_purging_deletes_the_object_and_keeps_the_tombstone(
    tenant: Tenant, member: APIClient, admin: APIClient, s3: S3Storage, settings: Any
) -> None:
    data = pdf_bytes(3000)
    created = declare(member, data).json()
    post_form(created["direct"]["url"], created["direct"]["fields"], data)
    document = member.post(f"/api/v1/uploads/{created['id']}/finalize").json()["document"]

    purged = admin.post(f"/api/v1/documents/{document['id']}/purge")

    assert purged.status_code == 200 and purged.json()["status"] == "purged"
    assert keys_in(s3) == []
    assert Document.objects.unscoped().get(pk=document["id"]).object_deleted_at is not None
