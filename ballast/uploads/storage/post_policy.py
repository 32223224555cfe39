"""The local backend's POST policy: S3's shape (a base64 JSON document of conditions plus a signature),
signed with an HMAC-SHA256 key derived from SECRET_KEY, so one browser client works against both backends."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

ALGORITHM = "BALLAST-HMAC-SHA256"
SIGNATURE_FIELD = "x-ballast-signature"
ALGORITHM_FIELD = "x-ballast-algorithm"
CHECKSUM_CONDITION = "x-ballast-checksum-sha256"
# Fields a policy never needs to name (as S3: the signature, the policy itself, the file).
UNSIGNED_FIELDS = frozenset({"policy", SIGNATURE_FIELD, "file"})


class PolicyRefused(Exception):
    """The POST does not match a valid, unexpired policy signed by this app."""


@dataclass(frozen=True)
class Policy:
    key: str
    content_type: str
    min_size: int
    max_size: int
    sha256: str  # hex, or "" when the upload declared none
    expires_at: datetime


def _signing_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"ballast.uploads.post-policy", "sha256").digest()


def _sign(encoded_policy: str) -> str:
    return hmac.new(_signing_key(), encoded_policy.encode("ascii"), "sha256").hexdigest()


def sign(*, key: str, content_type: str, size: int, sha256: str, expires_at: datetime) -> dict[str, str]:
    """The form fields of a direct upload, in the order they must be sent (the file comes last)."""
    conditions: list[Any] = [
        {"key": key},
        {"Content-Type": content_type},
        {ALGORITHM_FIELD: ALGORITHM},
        ["content-length-range", size, size],
    ]
    if sha256:
        conditions.append({CHECKSUM_CONDITION: sha256})
    document = {"expiration": expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "conditions": conditions}
    encoded = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode("ascii")
    return {
        "key": key,
        "Content-Type": content_type,
        ALGORITHM_FIELD: ALGORITHM,
        "policy": encoded,
        SIGNATURE_FIELD: _sign(encoded),
    }


def verify(fields: dict[str, str], *, now: datetime) -> Policy:
    """The policy the fields carry, once its signature, expiry and field conditions hold. PolicyRefused if not.
    The size range and checksum are conditions on the file: the receiver checks them as the bytes arrive."""
    encoded, signature = fields.get("policy"), fields.get(SIGNATURE_FIELD)
    if not encoded or not signature:
        raise PolicyRefused("The form must carry a policy and its signature")
    if not hmac.compare_digest(_sign(encoded).encode(), signature.encode("utf-8", "replace")):
        raise PolicyRefused("The policy signature does not match: the policy or a field was tampered with")
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
        expires_at = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
        conditions = document["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise PolicyRefused("The policy is not a valid policy document") from None
    if now >= expires_at:
        raise PolicyRefused("The policy expired at " + document["expiration"])
    exact: dict[str, str] = {}
    size_range: tuple[int, int] | None = None
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            exact.update(condition)
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            size_range = (int(condition[1]), int(condition[2]))
    if size_range is None or "key" not in exact or "Content-Type" not in exact:
        raise PolicyRefused("The policy lacks a key, a Content-Type or a content-length-range")
    for name, value in exact.items():
        if name != CHECKSUM_CONDITION and fields.get(name) != value:
            raise PolicyRefused(f"Invalid according to policy: the field {name!r} does not match its condition")
    extra = set(fields) - set(exact) - UNSIGNED_FIELDS
    if extra:
        raise PolicyRefused(f"Invalid according to policy: fields not named by any condition: {sorted(extra)}")
    return Policy(
        key=exact["key"],
        content_type=exact["Content-Type"],
        min_size=size_range[0],
        max_size=size_range[1],
        sha256=exact.get(CHECKSUM_CONDITION, ""),
        expires_at=expires_at,
    )
