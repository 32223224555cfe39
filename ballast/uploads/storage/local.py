"""Local disk, the embedded default: objects under UPLOADS_LOCAL_ROOT, their type in a sidecar file.

Direct uploads go to an app URL that accepts S3's POST-policy form (`receive_post`), signed by the app
(`post_policy`), which refuses a policy whose upload is no longer open; downloads are served by the app itself
(`uploads.links`, `uploads.views.DownloadView`).
Every write lands in `.partial/` first and is renamed into place whole, so nothing half-written is ever
visible under a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from django.urls import reverse
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ballast.uploads import keys
from ballast.uploads.storage import post_policy
from ballast.uploads.storage.base import (
    CHUNK_BYTES,
    DirectUpload,
    IncompleteBody,
    ObjectInfo,
    ObjectMissing,
    Readable,
    Storage,
    StorageError,
    Written,
    read_exactly,
)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

META_SUFFIX = ".meta.json"
MAX_FORM_FIELDS = 20
MAX_FIELD_BYTES = 8192
DEFAULT_TYPE = "application/octet-stream"


class Refused(Exception):
    """A direct POST or download the local backend refuses, answered as S3 would (403 for the policy or an
    invalid link, 400 for the body, 404 for a missing object)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _Incoming:
    """A file being written under `.partial/`, hashed as it goes; renamed into place only when whole."""

    def __init__(self, root: Path) -> None:
        partial = root / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        self.path = partial / uuid.uuid4().hex
        self.file: IO[bytes] = self.path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def commit(self, target: Path, content_type: str) -> Written:
        self.file.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = self.path.with_name(self.path.name + META_SUFFIX)
        meta.write_text(json.dumps({"content_type": content_type}))
        os.replace(meta, target.with_name(target.name + META_SUFFIX))
        os.replace(self.path, target)
        self.committed = True
        return Written(size=self.size, sha256=self.digest.hexdigest())

    def abort(self) -> None:
        if not self.committed:
            self.file.close()
            self.path.unlink(missing_ok=True)


class LocalStorage(Storage):
    name = "local"
    refuses_spent_policies = True

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if keys.parse(key) is None:
            raise StorageError(f"Not a key this server made: {key!r}")
        return self.root / key

    @staticmethod
    def _meta(path: Path) -> Path:
        return path.with_name(path.name + META_SUFFIX)

    def direct_upload(
        self, *, key: str, content_type: str, size: int, sha256: str, expires_at: datetime
    ) -> DirectUpload:
        fields = post_policy.sign(key=key, content_type=content_type, size=size, sha256=sha256, expires_at=expires_at)
        return DirectUpload(url=reverse("uploads-direct-post"), fields=fields)

    def write(self, *, key: str, stream: Readable, size: int, content_type: str) -> Written:
        target = self._path(key)
        incoming = _Incoming(self.root)
        try:
            for chunk in read_exactly(stream, size):
                incoming.write(chunk)
            return incoming.commit(target, content_type)
        finally:
            incoming.abort()

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            content_type=self._content_type(path),
            modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def _content_type(self, path: Path) -> str:
        try:
            return str(json.loads(self._meta(path).read_text())["content_type"])
        except (FileNotFoundError, ValueError, KeyError):
            return DEFAULT_TYPE

    def read(self, key: str, *, length: int | None = None) -> Iterator[bytes]:
        try:
            file = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(f"No object {key}") from None
        with file:
            remaining = length
            while remaining is None or remaining > 0:
                chunk = file.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def promote(self, source: str, target: str) -> None:
        source_path, target_path = self._path(source), self._path(target)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self._meta(source_path), self._meta(target_path))
        try:
            os.replace(source_path, target_path)
        except FileNotFoundError:
            if not target_path.exists():
                raise ObjectMissing(f"Neither {source} nor {target} exists") from None

    def delete(self, key: str) -> int | None:
        path = self._path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            size = None
        self._meta(path).unlink(missing_ok=True)
        return size

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        directory = self.root / prefix.rstrip("/")
        if not directory.is_dir():
            return
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            key = f"{prefix.rstrip('/')}/{entry.name}"
            if entry.is_file() and not entry.name.endswith(META_SUFFIX) and keys.parse(key) is not None:
                stat = entry.stat()
                yield ObjectInfo(
                    key=key,
                    size=stat.st_size,
                    content_type=self._content_type(Path(entry.path)),
                    modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                )

    def sweep_partials(self, *, older_than: float) -> int:
        """Delete `.partial/` files untouched for `older_than` seconds (writes a killed process left); how many."""
        partial = self.root / ".partial"
        if not partial.is_dir():
            return 0
        cutoff = time.time() - older_than
        swept = 0
        for entry in os.scandir(partial):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    swept += 1
        return swept

    def download_url(self, *, key: str, filename: str, content_type: str, expires_in: int) -> None:
        return None  # the app serves the bytes itself (uploads.views.DownloadView)

    def open(self, key: str) -> IO[bytes]:
        """The object's file, opened for reading; ObjectMissing when there is none."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(f"No object {key}") from None

    def receive_post(
        self,
        *,
        stream: Readable,
        content_type: str,
        content_length: int | None,
        now: datetime,
        accepts: Callable[[str], bool] = lambda key: True,
    ) -> str:
        """Store the file of an S3-style POST-policy form, streamed; returns its key. Refused otherwise.
        As S3: the fields come first and every one must be named by the signed policy; the file comes last,
        and whatever follows it is ignored. `accepts(key)` is asked before the file is read and again before
        it is stored: a policy whose upload is no longer open is refused (so each policy serves one upload)."""
        if content_length is None:
            raise Refused(411, "MissingContentLength", "Content-Length is required")
        media_type, params = parse_options_header(content_type)
        if media_type != b"multipart/form-data" or not params.get(b"boundary"):
            raise Refused(400, "InvalidRequest", "Expected a multipart/form-data body with a boundary")
        form = _PostForm(self, now, accepts)
        try:
            parser = MultipartParser(params[b"boundary"], callbacks=form.callbacks())
            for chunk in read_exactly(stream, content_length):
                parser.write(chunk)
                if form.key is not None:
                    break
        except (MultipartParseError, ValueError) as exc:
            raise Refused(400, "MalformedPOSTRequest", f"The body is not a valid multipart form: {exc}") from None
        except IncompleteBody as exc:
            raise Refused(400, "IncompleteBody", str(exc)) from None
        finally:
            form.abort()
        if form.key is None:
            raise Refused(400, "InvalidArgument", "The form has no complete file field")
        return form.key


@dataclass
class _Part:
    headers: dict[str, str]
    header_field: bytes = b""
    header_value: bytes = b""
    name: str = ""
    is_file: bool = False
    value: bytearray | None = None


class _PostForm:
    """Callbacks for the streaming multipart parser: small fields buffered, the file streamed to disk."""

    def __init__(self, storage: LocalStorage, now: datetime, accepts: Callable[[str], bool]) -> None:
        self.storage = storage
        self.now = now
        self.accepts = accepts
        self.fields: dict[str, str] = {}
        self.part: _Part | None = None
        self.policy: post_policy.Policy | None = None
        self.incoming: _Incoming | None = None
        self.key: str | None = None  # set once the file is stored

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.part = _Part(headers={})

    def header_field(self, data: bytes, start: int, end: int) -> None:
        assert self.part is not None
        self.part.header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        assert self.part is not None
        self.part.header_value += data[start:end]

    def header_end(self) -> None:
        assert self.part is not None
        name = self.part.header_field.decode("latin-1").strip().lower()
        self.part.headers[name] = self.part.header_value.decode("utf-8", "replace").strip()
        self.part.header_field = self.part.header_value = b""

    def headers_finished(self) -> None:
        assert self.part is not None
        _, params = parse_options_header(self.part.headers.get("content-disposition", ""))
        self.part.name = params.get(b"name", b"").decode("utf-8", "replace")
        if self.part.name == "file":
            self.part.is_file = True
            self._start_file()
        else:
            if len(self.fields) >= MAX_FORM_FIELDS:
                raise Refused(400, "InvalidArgument", f"At most {MAX_FORM_FIELDS} form fields")
            self.part.value = bytearray()

    def _start_file(self) -> None:
        try:
            self.policy = post_policy.verify(self.fields, now=self.now)
        except post_policy.PolicyRefused as exc:
            raise Refused(403, "AccessDenied", str(exc)) from None
        parsed = keys.parse(self.policy.key)
        if parsed is None or parsed.area != "tmp":
            raise Refused(403, "AccessDenied", "The policy's key is not an upload key")
        self._check_open(self.policy.key)
        self.incoming = _Incoming(self.storage.root)

    def _check_open(self, key: str) -> None:
        if not self.accepts(key):
            raise Refused(
                403,
                "AccessDenied",
                "This policy's upload is no longer open (finalized, failed or expired); start a new upload.",
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        assert self.part is not None
        if self.part.is_file:
            assert self.incoming is not None and self.policy is not None
            if self.incoming.size + (end - start) > self.policy.max_size:
                raise Refused(
                    400, "EntityTooLarge", f"The file is larger than the policy allows ({self.policy.max_size} bytes)"
                )
            self.incoming.write(data[start:end])
            return
        assert self.part.value is not None
        if len(self.part.value) + (end - start) > MAX_FIELD_BYTES:
            raise Refused(400, "InvalidArgument", f"The field {self.part.name!r} is over {MAX_FIELD_BYTES} bytes")
        self.part.value += data[start:end]

    def part_end(self) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if not part.is_file:
            self.fields[part.name] = bytes(part.value or b"").decode("utf-8", "replace")
            return
        assert self.incoming is not None and self.policy is not None
        if self.incoming.size < self.policy.min_size:
            raise Refused(
                400, "EntityTooSmall", f"The file is smaller than the policy requires ({self.policy.min_size} bytes)"
            )
        if self.policy.sha256 and self.incoming.digest.hexdigest() != self.policy.sha256:
            raise Refused(400, "BadDigest", "The file's SHA-256 does not match the policy's checksum")
        self._check_open(self.policy.key)
        self.incoming.commit(self.storage._path(self.policy.key), self.policy.content_type)
        self.key = self.policy.key

    def abort(self) -> None:
        if self.incoming is not None:
            self.incoming.abort()
