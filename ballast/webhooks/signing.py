"""Standard Webhooks signatures (https://www.standardwebhooks.com/): secrets, ids and signed headers.

The signature is `v1,<base64 HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")>`. The id is constant across
retries (receivers deduplicate on it); the timestamp is the attempt's, so receivers can refuse replays.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's prefix, not a secret)
SECRET_BYTES = 32  # the spec asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_id(event_id: str) -> str:
    """The `webhook-id` of every attempt of every delivery of one event."""
    return f"msg_{event_id}"


def sign(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for body (the exact text sent, UTF-8 encoded)."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body)


def signed_headers(*, secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }
