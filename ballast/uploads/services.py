"""Write services of uploads: intents (direct and relay), finalize, and the documents' trash.

Storage calls never run inside a transaction: the relay and finalize talk to storage between short
tenant-scoped transactions; purging deletes the object after commit.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models.functions import Now

from ballast.jobs.services import enqueue
from ballast.lib import tracing
from ballast.outbox.services import emit
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.uploads import keys, scheduling, selectors, verification
from ballast.uploads.errors import (
    ChecksumMismatch,
    IncompleteUpload,
    InvalidUpload,
    LengthRequired,
    NotFound,
    NotUploaded,
    QuotaExceeded,
    StateConflict,
    TooLarge,
    TypeNotAllowed,
    UploadExpired,
    VerificationFailed,
)
from ballast.uploads.models import Document, UploadIntent
from ballast.uploads.storage import get_storage
from ballast.uploads.storage.base import DirectUpload, IncompleteBody, ObjectInfo, ObjectMissing, Readable, Storage

logger = logging.getLogger(__name__)

S = UploadIntent.Status
MODES = ("auto", "direct", "relay")
# After the policy's expiry, so that no POST can follow the deletion.
CONSUME_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class CreatedIntent:
    intent: UploadIntent
    direct: DirectUpload | None  # None when the client asked for the relay only


@dataclass(frozen=True)
class Finalized:
    document: Document
    created: bool  # False: an earlier finalize made it (the API answers 200 instead of 201)


def _audit(intent: UploadIntent, action: str, actor: str, **data: Any) -> None:
    record(
        tenant_id=intent.tenant_id,
        actor=actor,
        action=action,
        target_type="upload",
        target_id=intent.pk,
        trace_id=intent.trace_id,
        data=data,
    )


def create_intent(
    *,
    tenant_id: int,
    filename: str,
    content_type: str,
    size: int,
    sha256: str | None = None,
    mode: str = "auto",
    actor: str = SYSTEM_ACTOR,
) -> CreatedIntent:
    """Declare an upload: checked against the limits and the tenant's quota, audited, and signed for a direct
    upload unless `mode` is "relay". Raises an UploadError subclass when refused (nothing is written)."""
    if mode not in MODES:
        raise InvalidUpload(f"mode must be one of {', '.join(MODES)}.", field="mode")
    name = verification.clean_filename(filename)
    kind = verification.clean_content_type(content_type)
    size = verification.clean_size(size)
    checksum = verification.clean_sha256(sha256)
    storage = get_storage()
    context = tracing.current()
    with tenant_scope(tenant_id):
        quota = settings.TENANT_STORAGE_QUOTA_BYTES
        if quota is not None:
            # One quota check at a time per tenant, so two uploads cannot both take the last free bytes.
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('uploads.quota', %s))", [tenant_id])
            used = selectors.bytes_in_use()
            if used + size > quota:
                raise QuotaExceeded(
                    f"The tenant stores {used} of its {quota} bytes; {size} more would exceed its quota. "
                    "Purge documents (the trash counts too) to make room."
                )
        upload_uuid = uuid.uuid4()
        expires_at = selectors.database_now() + timedelta(seconds=settings.UPLOAD_INTENT_TTL_SECONDS)
        intent = UploadIntent.objects.create(
            tenant_id=tenant_id,
            uuid=upload_uuid,
            kind=UploadIntent.Kind.RELAY if mode == "relay" else UploadIntent.Kind.DIRECT,
            filename=name,
            content_type=kind,
            size=size,
            sha256=checksum,
            storage_key=keys.tmp_key(tenant_id, upload_uuid),
            expires_at=expires_at,
            actor=actor,
            trace_id=context.trace_id,
            correlation_id=context.correlation_id,
        )
        _audit(
            intent,
            "upload.intent_created",
            actor,
            kind=intent.kind,
            filename=name,
            content_type=kind,
            size=size,
            sha256=checksum,
        )
    direct = None
    if mode != "relay":
        direct = storage.direct_upload(
            key=intent.storage_key, content_type=kind, size=size, sha256=checksum, expires_at=expires_at
        )
    return CreatedIntent(intent=intent, direct=direct)


def _open_intent(tenant_id: int, intent_id: int, actor: str) -> UploadIntent:
    """The intent, if bytes may still arrive for it; expires it (audited, committed) when its time is up."""
    expired = False
    with tenant_scope(tenant_id):
        intent = UploadIntent.objects.select_for_update().filter(pk=intent_id).first()
        if intent is None:
            raise NotFound(f"No upload {intent_id}.")
        if intent.status == S.FINALIZED:
            raise StateConflict("This upload is finalized already; start a new upload to send other bytes.")
        if intent.status == S.FAILED:
            raise StateConflict(f"This upload failed verification: {intent.last_error}")
        if intent.status in (S.EXPIRED, S.CLEANED):
            raise UploadExpired("This upload expired; start a new one.")
        expired = _expire_if_due(intent, actor)
    if expired:
        raise UploadExpired("This upload expired; start a new one.")
    return intent


def _expire_if_due(intent: UploadIntent, actor: str) -> bool:
    """pending/uploaded past expires_at → expired (audited). Must run inside tenant_scope."""
    moved = UploadIntent.objects.filter(pk=intent.pk, status__in=selectors.LIVE, expires_at__lte=Now()).update(
        status=S.EXPIRED, updated_at=Now()
    )
    if moved:
        _audit(intent, "upload.expired", actor, previous=intent.status)
    return bool(moved)


def receive_relay(
    *,
    tenant_id: int,
    intent_id: int,
    stream: Readable,
    content_length: int | None,
    content_type: str,
    actor: str = SYSTEM_ACTOR,
) -> UploadIntent:
    """Stream a request body to storage under the intent's key, in chunks, outside any transaction.

    The body must be exactly the declared size (Content-Length required) and of the declared type; a body
    that ends early or fails the declared checksum leaves nothing behind. Safe to repeat until finalized.
    """
    intent = _open_intent(tenant_id, intent_id, actor)
    if content_length is None:
        raise LengthRequired("Content-Length is required: the relay takes exactly the declared number of bytes.")
    if content_length > intent.size:
        raise TooLarge(f"Content-Length is {content_length} bytes; this upload declared {intent.size}.")
    if content_length != intent.size:
        raise InvalidUpload(
            f"Content-Length is {content_length} bytes; this upload declared {intent.size}.", field="Content-Length"
        )
    if verification.media_type(content_type) != intent.content_type:
        raise TypeNotAllowed(
            f"Content-Type is {content_type or 'missing'}; this upload declared {intent.content_type}."
        )
    storage = get_storage()
    try:
        written = storage.write(
            key=intent.storage_key, stream=stream, size=intent.size, content_type=intent.content_type
        )
    except IncompleteBody as exc:
        raise IncompleteUpload(f"{exc}; nothing was stored, send the file again.") from None
    if intent.sha256 and written.sha256 != intent.sha256:
        storage.delete(intent.storage_key)
        raise ChecksumMismatch("The body's SHA-256 differs from the declared sha256; nothing was stored.")
    with tenant_scope(tenant_id):
        moved = UploadIntent.objects.filter(pk=intent.pk, status__in=selectors.LIVE).update(
            status=S.UPLOADED,
            kind=UploadIntent.Kind.RELAY,
            received_bytes=written.size,
            received_sha256=written.sha256,
            uploaded_at=Now(),
            last_error="",
            updated_at=Now(),
        )
        if moved:
            _audit(intent, "upload.received", actor, via="relay", bytes=written.size, sha256=written.sha256)
    if not moved:
        # Finalized or expired meanwhile: what we just wrote belongs to no live intent.
        storage.delete(intent.storage_key)
        raise StateConflict("This upload changed state while its body arrived; nothing was kept.")
    with tenant_scope(tenant_id):
        return UploadIntent.objects.get(pk=intent.pk)


def _located(storage: Storage, intent: UploadIntent) -> ObjectInfo | None:
    """The upload's object: under tmp/, or already under docs/ (a finalize that moved it and then died)."""
    for key in (intent.storage_key, intent.docs_key):
        info = storage.head(key)
        if info is not None:
            return info
    return None


def _problem(storage: Storage, intent: UploadIntent, info: ObjectInfo) -> tuple[str | None, str]:
    """(Why the stored object contradicts the declaration or None, its SHA-256 when read)."""
    if info.size != intent.size:
        return f"Storage holds {info.size} bytes; {intent.size} were declared.", ""
    if info.content_type and verification.media_type(info.content_type) != intent.content_type:
        return f"Storage holds type {info.content_type}; {intent.content_type} was declared.", ""
    reason = verification.contradiction(intent.content_type, storage.first_bytes(info.key, verification.SNIFF_BYTES))
    if reason:
        return reason, ""
    # Read back in full: the relay's hash describes what it wrote, and a direct POST may have replaced it since.
    actual = storage.sha256(info.key)
    if intent.sha256 and actual != intent.sha256:
        return "The stored bytes' SHA-256 differs from the declared sha256.", actual
    return None, actual


def _finalized_document(intent_id: int) -> Document | None:
    """Must run inside tenant_scope."""
    intent = UploadIntent.objects.select_related("document").filter(pk=intent_id).first()
    return intent.document if intent is not None and intent.status == S.FINALIZED else None


def finalize(*, tenant_id: int, intent_id: int, actor: str = SYSTEM_ACTOR) -> Finalized:
    """Verify what storage holds (existence, size, type, first bytes, checksum), move it under docs/ and
    create the Document with its `document.created` event. Idempotent: a repeat, or a concurrent second call,
    returns the same document with created=False."""
    storage = get_storage()
    with tenant_scope(tenant_id):
        intent = selectors.intent_or_none(intent_id)
        if intent is None:
            raise NotFound(f"No upload {intent_id}.")
        if intent.status == S.FINALIZED:
            assert intent.document is not None
            return Finalized(document=intent.document, created=False)
        if intent.status == S.FAILED:
            raise VerificationFailed(intent.last_error)
        expired = intent.status in (S.EXPIRED, S.CLEANED) or _expire_if_due(intent, actor)
    if expired:
        raise UploadExpired("This upload expired before it was finalized; start a new one.")

    # The object moves under docs/ (where no policy can write) first, and is verified there: what is checked
    # and hashed is what the document will serve, whatever reaches tmp/ meanwhile.
    info = _located(storage, intent)
    if info is not None and info.key == intent.storage_key:
        try:
            storage.promote(intent.storage_key, intent.docs_key)
        except ObjectMissing:  # a concurrent finalize failed it and deleted both
            pass
    info = storage.head(intent.docs_key)
    if info is None:
        with tenant_scope(tenant_id):
            document = _finalized_document(intent.pk)
        if document is not None:
            return Finalized(document=document, created=False)
        raise NotUploaded("Nothing has been uploaded for this intent yet: upload the file first, then finalize.")
    try:
        reason, sha256 = _problem(storage, intent, info)
    except ObjectMissing:  # deleted by a concurrent finalize that found it wrong
        raise VerificationFailed("The upload changed while it was verified; start a new upload.") from None
    if reason is not None:
        return _fail(storage, intent, reason, actor)

    with tenant_scope(tenant_id):
        locked = UploadIntent.objects.select_for_update().get(pk=intent.pk)
        if locked.status == S.FINALIZED:
            document = Document.objects.get(pk=locked.document_id)
            return Finalized(document=document, created=False)
        if locked.status not in selectors.LIVE:
            raise UploadExpired("This upload was expired or cleaned up while it was being finalized.")
        if locked.status == S.PENDING:
            _audit(locked, "upload.received", actor, via="direct", bytes=info.size)
        document = Document.objects.create(
            tenant_id=tenant_id,
            uuid=locked.uuid,
            name=locked.filename,
            content_type=locked.content_type,
            size=info.size,
            sha256=sha256,
            storage_key=locked.docs_key,
            created_by=actor,
            correlation_id=locked.correlation_id or tracing.current().correlation_id,
        )
        UploadIntent.objects.filter(pk=locked.pk).update(
            status=S.FINALIZED,
            document=document,
            uploaded_at=locked.uploaded_at or Now(),
            finalized_at=Now(),
            updated_at=Now(),
        )
        _audit(locked, "upload.finalized", actor, document_id=document.pk, bytes=info.size, sha256=sha256)
        _document_event(document, "document.created", actor, upload_id=locked.pk, kind=locked.kind)
        # S3 copied the object: the tmp/ copy goes once the document exists (local disk renamed it already).
        transaction.on_commit(functools.partial(_delete_quietly, storage, locked.storage_key))
        if not storage.refuses_spent_policies:
            # The policy still works until it expires: whatever it stores after this is deleted then.
            enqueue(
                tenant=tenant_id,
                job_type=scheduling.CONSUME_KEY,
                payload={"upload_id": locked.pk},
                idempotency_key=f"{scheduling.CONSUME_KEY}:{locked.pk}",
                run_at=locked.expires_at + CONSUME_MARGIN,
                actor=actor,
            )
    return Finalized(document=document, created=True)


def direct_upload_open(key: str) -> bool:
    """Whether a direct POST may still store under this tmp/ key: its intent is live and unexpired. Crosses no
    tenant: the key names its tenant, and the lookup runs in that tenant's scope."""
    parsed = keys.parse(key)
    if parsed is None or parsed.area != keys.UPLOADING:
        return False
    with tenant_scope(parsed.tenant_id):
        return UploadIntent.objects.filter(storage_key=key, status__in=selectors.LIVE, expires_at__gt=Now()).exists()


def consume_direct_key(*, tenant_id: int, intent_id: int, actor: str = SYSTEM_ACTOR) -> int | None:
    """Delete what a direct policy stored after its upload ended (the policy has expired by now), audited as
    `upload.replay_deleted`; the bytes freed, or None when there was nothing. Leaves a live intent's key alone."""
    with tenant_scope(tenant_id):
        intent = UploadIntent.objects.filter(pk=intent_id).first()
        if intent is None or intent.status in selectors.LIVE:
            return None
    freed = get_storage().delete(intent.storage_key)
    if freed is not None:
        with tenant_scope(tenant_id):
            _audit(intent, "upload.replay_deleted", actor, key=intent.storage_key, bytes=freed)
    return freed


def _fail(storage: Storage, intent: UploadIntent, reason: str, actor: str) -> Finalized:
    with tenant_scope(intent.tenant_id):
        moved = UploadIntent.objects.filter(pk=intent.pk, status__in=selectors.LIVE).update(
            status=S.FAILED, last_error=reason, updated_at=Now()
        )
        if moved:
            _audit(intent, "upload.failed", actor, reason=reason)
        document = None if moved else _finalized_document(intent.pk)
    if document is not None:
        return Finalized(document=document, created=False)
    if moved:
        for key in (intent.storage_key, intent.docs_key):
            _delete_quietly(storage, key)
    raise VerificationFailed(reason)


def _delete_quietly(storage: Storage, key: str) -> None:
    """Best effort: what fails here, the cleanup job deletes later."""
    try:
        storage.delete(key)
    except Exception:
        logger.exception("could not delete %s; the cleanup job will", key)


def _document_event(document: Document, event_type: str, actor: str, **payload: Any) -> None:
    """The document's audit row and its outbox event, in the caller's transaction (tenant_scope)."""
    record(
        tenant_id=document.tenant_id,
        actor=actor,
        action=event_type,
        target_type="document",
        target_id=document.pk,
        trace_id=tracing.current().trace_id,
        data=payload,
    )
    emit(
        tenant_id=document.tenant_id,
        event_type=event_type,
        target_type="document",
        target_id=document.pk,
        actor=actor,
        correlation_id=document.correlation_id,
        payload={
            "document_id": document.pk,
            "name": document.name,
            "content_type": document.content_type,
            "size": document.size,
            "status": document.status,
            **payload,
        },
    )


def _move(document: Document, *, allowed_from: tuple[str, ...], target: str, values: dict[str, Any]) -> bool:
    """One conditional status write. Must run inside tenant_scope."""
    moved = Document.objects.filter(pk=document.pk, status__in=allowed_from).update(
        status=target, updated_at=Now(), **values
    )
    document.refresh_from_db()
    return bool(moved)


def trash_document(*, document: Document, actor: str = SYSTEM_ACTOR) -> Document:
    """Active → trashed (`document.trashed`). Safe to call twice; a purged document raises StateConflict."""
    D = Document.Status
    with tenant_scope(document.tenant_id):
        if _move(document, allowed_from=(D.ACTIVE,), target=D.TRASHED, values={"trashed_at": Now()}):
            _document_event(document, "document.trashed", actor)
        elif document.status == D.PURGED:
            raise StateConflict("This document was purged; only its tombstone remains.")
    return document


def restore_document(*, document: Document, actor: str = SYSTEM_ACTOR) -> Document:
    """Trashed → active (`document.restored`). StateConflict for a document not in the trash."""
    D = Document.Status
    with tenant_scope(document.tenant_id):
        if _move(document, allowed_from=(D.TRASHED,), target=D.ACTIVE, values={"trashed_at": None}):
            _document_event(document, "document.restored", actor)
        else:
            raise StateConflict(f"Only a document in the trash can be restored; this one is {document.status}.")
    return document


def purge_document(*, document: Document, actor: str = SYSTEM_ACTOR) -> Document:
    """Active or trashed → purged (`document.purged`): the row stays as a tombstone, the object is deleted
    after commit (and again by the trash job until that is confirmed). Safe to call twice."""
    D = Document.Status
    with tenant_scope(document.tenant_id):
        if _move(document, allowed_from=(D.ACTIVE, D.TRASHED), target=D.PURGED, values={"purged_at": Now()}):
            _document_event(document, "document.purged", actor)
            transaction.on_commit(
                functools.partial(delete_purged_object, document.tenant_id, document.pk, document.storage_key)
            )
    return document


def delete_purged_object(tenant_id: int, document_id: int, key: str) -> int | None:
    """Delete a purged document's object and record that it is gone; its size, or None. Never raises
    (the trash job tries again while object_deleted_at is empty)."""
    try:
        freed = get_storage().delete(key)
    except Exception:
        logger.exception("could not delete the object of purged document %s; the trash job will retry", document_id)
        return None
    with tenant_scope(tenant_id):
        Document.objects.filter(pk=document_id, status=Document.Status.PURGED).update(object_deleted_at=Now())
    return freed
