"""Object keys: made by the server from the tenant and a fresh uuid; a client's file name never enters one."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

KEY = re.compile(
    r"^t/(?P<tenant>[1-9][0-9]{0,18})/(?P<area>tmp|docs)/(?P<uuid>[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$"
)


UPLOADING, FINAL = "tmp", "docs"


@dataclass(frozen=True)
class ParsedKey:
    tenant_id: int
    area: str  # "tmp" while uploading, "docs" once finalized
    uuid: uuid.UUID


def tmp_key(tenant_id: int, upload_uuid: uuid.UUID) -> str:
    return f"t/{tenant_id}/{UPLOADING}/{upload_uuid}"


def docs_key(tenant_id: int, upload_uuid: uuid.UUID) -> str:
    return f"t/{tenant_id}/{FINAL}/{upload_uuid}"


def tmp_prefix(tenant_id: int) -> str:
    return f"t/{tenant_id}/{UPLOADING}/"


def parse(key: str) -> ParsedKey | None:
    """The parts of a key the server made, or None for anything else (so no other string becomes a path)."""
    match = KEY.match(key)
    if match is None:
        return None
    return ParsedKey(tenant_id=int(match["tenant"]), area=match["area"], uuid=uuid.UUID(match["uuid"]))
