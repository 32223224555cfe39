"""Write services of the emails app."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ballast.emails.models import EmailDelivery
from ballast.jobs.services import enqueue
from ballast.lib.key_locks import lock_keys
from ballast.tenants.audit import SYSTEM_ACTOR, record
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant

SEND_JOB_TYPE = "email.send"
MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 998  # RFC 5322's line limit
MAX_BODY_BYTES = 1024 * 1024
MAX_KEY_CHARS = 255
DEFAULT_TYPE = "message"
EMAIL_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_TYPE_CHARS = 100
MAX_RELATED_CHARS = 100
MAX_METADATA_BYTES = 8192
# Sends of one key take turns (ballast.lib.key_locks), as a unique index's row lock would make them: a second send
# waits for the first to commit or roll back, then finds its row or makes its own.
KEY_LOCK_SPACE = "emails.key"


class EmailError(ValueError):
    """The email was refused; the message says why. Nothing was written."""


class InvalidEmail(EmailError):
    """A recipient, the subject, the body or the key does not fit."""


class EmailConflict(EmailError):
    """The key already names a delivery with other recipients, subject or body."""

    def __init__(self, message: str, delivery: EmailDelivery) -> None:
        super().__init__(message)
        self.delivery = delivery


def payload_hash(*, to: list[str], subject: str, body: str) -> str:
    """sha256 of the caller's content: what "the same email" means for a key."""
    canonical = json.dumps({"to": to, "subject": subject, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_message_id() -> str:
    """`<uuid@EMAIL_MESSAGE_ID_DOMAIN>`: made once per delivery, stored, and sent by every attempt."""
    return f"<{uuid.uuid4().hex}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"


def _validated(to: Any, subject: Any, body: Any, key: Any) -> list[str]:
    if not isinstance(to, list | tuple) or not to:
        raise InvalidEmail("`to` must be a non-empty list of email addresses")
    if len(to) > MAX_RECIPIENTS:
        raise InvalidEmail(f"At most {MAX_RECIPIENTS} recipients per email, not {len(to)}")
    recipients = []
    for index, address in enumerate(to):
        if not isinstance(address, str):
            raise InvalidEmail(f"to[{index}] is not a string: {address!r}")
        cleaned = address.strip()
        try:
            validate_email(cleaned)
        except ValidationError:
            raise InvalidEmail(f"to[{index}] is not a valid email address: {address!r}") from None
        recipients.append(cleaned)
    if not isinstance(subject, str) or "\n" in subject or "\r" in subject:
        raise InvalidEmail("The subject must be one line of text")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidEmail(f"The subject is {len(subject)} characters; the limit is {MAX_SUBJECT_CHARS}")
    if not isinstance(body, str):
        raise InvalidEmail("The body must be text")
    size = len(body.encode())
    if size > MAX_BODY_BYTES:
        raise InvalidEmail(f"The body is {size} bytes; the limit is {MAX_BODY_BYTES}")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS):
        raise InvalidEmail(f"The key must be 1 to {MAX_KEY_CHARS} characters")
    return recipients


def _described(email_type: Any, related: Any, metadata: Any) -> tuple[str, str, str, dict[str, Any]]:
    """(type, related type, related id, metadata) once they fit; InvalidEmail naming the argument otherwise."""
    if not isinstance(email_type, str) or not EMAIL_TYPE.match(email_type) or len(email_type) > MAX_TYPE_CHARS:
        raise InvalidEmail(
            f"email_type must be a dotted lowercase name such as 'account.welcome', at most {MAX_TYPE_CHARS} "
            f"characters, not {str(email_type)[:120]!r}"
        )
    related_type = related_id = ""
    if related is not None:
        if not isinstance(related, list | tuple) or len(related) != 2:
            raise InvalidEmail("related must be a (type, id) pair, such as ('invoice', 42)")
        related_type, related_id = str(related[0]).strip(), str(related[1]).strip()
        if not related_type or not related_id or max(len(related_type), len(related_id)) > MAX_RELATED_CHARS:
            raise InvalidEmail(f"related's type and id must each be 1 to {MAX_RELATED_CHARS} characters")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise InvalidEmail("metadata must be a JSON object (a dict)")
    try:
        size = len(json.dumps(metadata, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidEmail(f"metadata must be JSON: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise InvalidEmail(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return email_type, related_type, related_id, metadata


def _same_or_conflict(existing: EmailDelivery, digest: str) -> EmailDelivery:
    if existing.payload_hash != digest:
        raise EmailConflict(
            f"Key {existing.key!r} was used for email delivery {existing.pk} with other recipients, subject or body",
            existing,
        )
    existing.created = False
    return existing


def send_email(
    *,
    tenant: Tenant | int,
    to: list[str],
    subject: str,
    body: str,
    key: str | None = None,
    email_type: str = DEFAULT_TYPE,
    related: tuple[str, str | int] | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = SYSTEM_ACTOR,
) -> EmailDelivery:
    """Create a delivery and enqueue its `email.send` job in the caller's transaction (pushed after commit).

    The same tenant and key with the same content return the existing delivery (`created` False) and enqueue
    nothing; with other content, EmailConflict. A key is unique within the retention window
    (RETENTION_EMAIL_DELIVERIES_DAYS): once its delivery's month is dropped, the key is free again. Invalid input
    raises InvalidEmail. Safe under concurrency: a second send of one key waits for the first's transaction.
    `email_type`, `related` (the object it is about: type and id) and `metadata` (a JSON object up to 8 KiB)
    describe the delivery for the tenant's reads (GET /api/v1/emails); they are not part of its content.
    """
    recipients = _validated(to, subject, body, key)
    email_type, related_type, related_id, metadata = _described(email_type, related, metadata)
    digest = payload_hash(to=recipients, subject=subject, body=body)
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with tenant_scope(tenant_id):
        if key is not None:
            # The table is partitioned by month, so no unique index can hold (tenant, key) alone: the lock and a
            # look through every retained partition keep a key unique within the retention window.
            lock_keys(space=KEY_LOCK_SPACE, tenant_id=tenant_id, keys=[key])
            existing = EmailDelivery.objects.filter(key=key).order_by("created_at", "pk").first()
            if existing is not None:
                return _same_or_conflict(existing, digest)
        delivery = EmailDelivery.objects.create(
            key=key,
            message_id=new_message_id(),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipients=recipients,
            subject=subject,
            body=body,
            payload_hash=digest,
            email_type=email_type,
            related_type=related_type,
            related_id=related_id,
            metadata=metadata,
        )
        job = enqueue(
            tenant=tenant_id,
            job_type=SEND_JOB_TYPE,
            payload={"delivery_id": delivery.pk, "payload_hash": digest},
            actor=actor,
        )
        EmailDelivery.objects.filter(pk=delivery.pk).update(job_id=job.pk)
        delivery.job_id = job.pk
        record(
            tenant_id=tenant_id,
            actor=actor,
            action="email.queued",
            target_type="email_delivery",
            target_id=delivery.pk,
            trace_id=job.trace_id,
            data={
                "job_id": job.pk,
                "recipients": len(recipients),
                "key": key,
                "message_id": delivery.message_id,
                "email_type": email_type,
            },
        )
    delivery.created = True
    return delivery
