"""Checking declarations: names, types, sizes and checksums on the way in; the stored bytes at finalize."""

from __future__ import annotations

import codecs
import re
import unicodedata

import filetype  # type: ignore[import-untyped]
from django.conf import settings

from ballast.uploads.errors import InvalidUpload, TooLarge, TypeNotAllowed

MAX_NAME_CHARS = 255
SNIFF_BYTES = 8192
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
# Bidirectional controls (U+202A-U+202E, U+2066-U+2069, marks) can disguise "gpj.exe" as "exe.jpg".
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
KNOWN_TYPES = frozenset(kind.mime for kind in filetype.types) - {"application/octet-stream"}
# What the sniffer may report for bytes that honestly are the declared type.
COMPATIBLE = {
    "image/png": {"image/apng"},
    "application/zip": {
        "application/epub+zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    },
}
TEXT_TYPES = frozenset({"application/json", "application/xml"})


def clean_filename(name: str) -> str:
    """The client's name as metadata: NFC, 1 to 255 characters, no control or bidi characters, no path."""
    name = unicodedata.normalize("NFC", name)
    if not name or not name.strip():
        raise InvalidUpload("The file name is empty.", field="filename")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidUpload(f"The file name has {len(name)} characters; at most {MAX_NAME_CHARS}.", field="filename")
    if "\x00" in name or any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidUpload("The file name contains a NUL or another control character.", field="filename")
    if any(char in BIDI_CONTROLS for char in name):
        raise InvalidUpload(
            "The file name contains a bidirectional override or mark (it could disguise its extension).",
            field="filename",
        )
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise InvalidUpload("The file name must be a name, not a path ('/', '\\', '.' or '..').", field="filename")
    return name


def media_type(value: str) -> str:
    """The bare media type of a Content-Type value, lowercased ('text/plain; charset=utf-8' → 'text/plain')."""
    return value.split(";", 1)[0].strip().lower()


def clean_content_type(value: str) -> str:
    kind = media_type(value)
    if not MEDIA_TYPE.match(kind):
        raise InvalidUpload(f"{value!r} is not a media type such as 'application/pdf'.", field="content_type")
    allowed = [media_type(allowed) for allowed in settings.UPLOAD_ALLOWED_TYPES]
    if kind not in allowed:
        raise TypeNotAllowed(f"Uploads of type {kind} are not allowed; allowed: {', '.join(allowed)}.")
    return kind


def clean_size(size: int) -> int:
    if size < 0:
        raise InvalidUpload("The size cannot be negative.", field="size")
    if size > settings.UPLOAD_MAX_BYTES:
        raise TooLarge(f"The file is {size} bytes; uploads may be at most {settings.UPLOAD_MAX_BYTES} bytes.")
    return size


def clean_sha256(value: str | None) -> str:
    if value in (None, ""):
        return ""
    assert value is not None
    if not SHA256_HEX.match(value.lower()):
        raise InvalidUpload("sha256 must be 64 hexadecimal characters (the SHA-256 of the file).", field="sha256")
    return value.lower()


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        # Not final: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def contradiction(declared: str, head: bytes) -> str | None:
    """Why the first bytes contradict the declared type, or None when they fit it."""
    if declared == "application/octet-stream":
        return None
    kind = filetype.guess(head) if head else None
    detected = kind.mime if kind is not None else None
    if declared.startswith("text/") or declared in TEXT_TYPES:
        if detected is not None:
            return f"Declared {declared}, but the bytes are {detected}."
        if not _is_text(head):
            return f"Declared {declared}, but the bytes are not UTF-8 text."
        return None
    if detected is None:
        if declared in KNOWN_TYPES:
            return f"Declared {declared}, but the bytes do not start like a {declared} file."
        return None
    if detected != declared and detected not in COMPATIBLE.get(declared, set()):
        return f"Declared {declared}, but the bytes are {detected}."
    return None
