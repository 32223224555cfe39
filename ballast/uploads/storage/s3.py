"""S3-compatible storage through boto3: presigned POSTs (size and type bound by the policy), multipart relay
writes with one part in memory at a time, presigned GETs that download as attachments.

django-storages' Storage API has no presigned POST, copy or ranged read, so boto3 is used directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.utils import timezone
from django.utils.http import content_disposition_header

from ballast.uploads.storage.base import (
    CHUNK_BYTES,
    DirectUpload,
    ObjectInfo,
    ObjectMissing,
    Readable,
    Storage,
    StorageError,
    Written,
    read_exactly,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# S3's smallest part but the last: the relay holds one part in memory (plus the copy boto3 sends).
PART_BYTES = 5 * 1024 * 1024
# copy_object's limit; larger uploads would need a multipart copy.
MAX_COPY_BYTES = 5 * 1024**3
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in MISSING_CODES


class S3Storage(Storage):
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        addressing_style: str = "path",
    ) -> None:
        self.bucket = bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": cast("Literal['auto', 'virtual', 'path']", addressing_style)},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (dev and tests; production buckets are provisioned)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def direct_upload(
        self, *, key: str, content_type: str, size: int, sha256: str, expires_at: datetime
    ) -> DirectUpload:
        seconds = max(1, int((expires_at - timezone.now()).total_seconds()))
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            # A presigned PUT cannot bound the size; a POST policy can, and pins the type exactly.
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=seconds,
        )
        return DirectUpload(url=post["url"], fields={name: str(value) for name, value in post["fields"].items()})

    def write(self, *, key: str, stream: Readable, size: int, content_type: str) -> Written:
        digest = hashlib.sha256()
        if size <= PART_BYTES:
            body = b"".join(read_exactly(stream, size))
            digest.update(body)
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
            return Written(size=size, sha256=digest.hexdigest())
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)[
            "UploadId"
        ]
        try:
            parts: list[CompletedPartTypeDef] = []
            buffer = bytearray()
            for chunk in read_exactly(stream, size, CHUNK_BYTES):
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer = bytearray()
            if buffer or not parts:
                parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Nothing half-written remains: the parts go with the upload.
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return Written(size=size, sha256=digest.hexdigest())

    def _part(self, key: str, upload_id: str, number: int, body: bytes) -> CompletedPartTypeDef:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType", ""),
            modified=response.get("LastModified"),
        )

    def read(self, key: str, *, length: int | None = None) -> Iterator[bytes]:
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if length is not None:
            if length <= 0:
                return
            arguments["Range"] = f"bytes=0-{length - 1}"
        try:
            response = self.client.get_object(**arguments)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(f"No object {key}") from None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # an empty object has no byte 0
            raise
        body = response["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def promote(self, source: str, target: str) -> None:
        info = self.head(source)
        if info is None:
            if self.head(target) is None:
                raise ObjectMissing(f"Neither {source} nor {target} exists")
            return
        if info.size > MAX_COPY_BYTES:
            raise StorageError(f"{source} is over {MAX_COPY_BYTES} bytes, more than one copy_object can move")
        try:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})
        except ClientError as exc:
            if _missing(exc) and self.head(target) is not None:
                return  # a concurrent finalize moved it first
            raise

    def delete(self, key: str) -> int | None:
        info = self.head(key)
        if info is None:
            return None
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return info.size

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"], size=int(item.get("Size", 0)), content_type="", modified=item.get("LastModified")
                )

    def download_url(self, *, key: str, filename: str, content_type: str, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition_header(True, filename) or "attachment",
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
