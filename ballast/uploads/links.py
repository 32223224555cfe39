"""Download links: app URLs carrying a signed token (tenant, document, expiry) that is checked at every use, so a
document that leaves `active` (trashed, purged) stops downloading at once, whatever links are out.

The token is a credential: it sits in the path, which the access log and Django's request log redact
(ballast.lib.log_redaction).
"""

from __future__ import annotations

import time

from django.core import signing
from django.urls import reverse

from ballast.tenants.context import tenant_scope
from ballast.uploads.models import Document

SALT = "ballast.uploads.download-link"


class LinkRefused(Exception):
    """The link does not download (anymore); `status` is the HTTP answer (403 invalid or expired, 404 gone)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def path_for(document: Document, *, expires_in: int) -> str:
    """The app path that downloads `document` for `expires_in` seconds, while it stays active."""
    token = signing.dumps(
        {"t": document.tenant_id, "d": document.pk, "e": int(time.time()) + expires_in}, salt=SALT, compress=True
    )
    return reverse("uploads-download", args=[token])


def resolve(token: str) -> Document:
    """The active document a valid, unexpired token names; LinkRefused otherwise."""
    try:
        claims = signing.loads(token, salt=SALT)
        tenant_id, document_id, expires = int(claims["t"]), int(claims["d"]), int(claims["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkRefused(403, "This download link is not valid.") from None
    if expires < time.time():
        raise LinkRefused(403, "This download link has expired; ask for the document again.")
    with tenant_scope(tenant_id):
        document = Document.objects.filter(pk=document_id, status=Document.Status.ACTIVE).first()
    if document is None:
        raise LinkRefused(404, "This document is no longer available (trashed or purged).")
    return document
