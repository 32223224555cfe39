"""Credentials that travel in URLs are kept out of logs: download-link tokens (`/storage/download/<token>`) and
presigned-URL signatures (`X-Amz-Signature=...`). `RedactFilter` rewrites log records (Django's request and
server logs go through it, config/settings/base.py); `config.access_log.RedactingLogger` does the same for
gunicorn's access log."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = (
    re.compile(r"(/storage/download/)[^/?#\s\"']+"),
    re.compile(r"((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|x-ballast-signature)=)[^&#\s\"']+", re.I),
)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\1{REDACTED}", text)
    return text


class RedactFilter(logging.Filter):
    """Formats the record's message once and keeps the redacted text (so no argument carries a token on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
