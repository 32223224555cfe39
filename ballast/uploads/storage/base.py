"""The one small interface every storage backend implements (chosen by UPLOADS_BACKEND).

Keys are made by the server (`uploads.keys`), never from a client's file name.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

CHUNK_BYTES = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class StorageError(Exception):
    """The storage failed or refused; the message says why."""


class ObjectMissing(StorageError):
    """There is no object under the key."""


class IncompleteBody(StorageError):
    """The stream ended before the announced number of bytes. Nothing was stored."""


@dataclass(frozen=True)
class DirectUpload:
    """A `multipart/form-data` POST target: send `fields` (in order), then the file as the field `file`."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    modified: datetime | None = None


@dataclass(frozen=True)
class Written:
    size: int
    sha256: str  # hex


class Storage(ABC):
    name: str
    # Whether a direct POST under a policy whose upload is finalized is refused by the storage itself (local
    # disk asks the app); S3 cannot revoke a presigned POST, so finalize schedules the key's deletion instead.
    refuses_spent_policies: bool = False

    @abstractmethod
    def direct_upload(
        self, *, key: str, content_type: str, size: int, sha256: str, expires_at: datetime
    ) -> DirectUpload:
        """A signed POST policy: exactly this key, this Content-Type and `size` bytes, until `expires_at`."""

    @abstractmethod
    def write(self, *, key: str, stream: Readable, size: int, content_type: str) -> Written:
        """Store exactly `size` bytes read from `stream` in chunks (never all at once). IncompleteBody when the
        stream ends early; on any failure nothing remains under `key` (an earlier object there is kept)."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and type, or None when there is none."""

    @abstractmethod
    def read(self, key: str, *, length: int | None = None) -> Iterator[bytes]:
        """The object's bytes in chunks (the first `length` only, when given). ObjectMissing when there is none."""

    @abstractmethod
    def promote(self, source: str, target: str) -> None:
        """Make `target` hold `source`'s bytes and type; `source` may remain (delete it after commit).
        Safe to repeat: when `source` is gone but `target` exists, nothing happens; ObjectMissing when both are."""

    @abstractmethod
    def delete(self, key: str) -> int | None:
        """Delete the object; its size, or None when there was none. Safe to call twice."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`."""

    @abstractmethod
    def download_url(self, *, key: str, filename: str, content_type: str, expires_in: int) -> str | None:
        """A short-lived URL of the storage itself that downloads the object as an attachment named
        `filename`, or None when the app serves the bytes. Clients never get it before the app's link
        (uploads.links) has checked that the document is still active."""

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.read(key):
            digest.update(chunk)
        return digest.hexdigest()

    def first_bytes(self, key: str, length: int = 8192) -> bytes:
        return b"".join(self.read(key, length=length))[:length]


def read_exactly(stream: Readable, size: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """`size` bytes from `stream`, in chunks; IncompleteBody when it ends early. Reads no byte beyond `size`."""
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(chunk_bytes, remaining))
        if not chunk:
            raise IncompleteBody(f"The body ended after {size - remaining} of {size} bytes")
        remaining -= len(chunk)
        yield chunk
