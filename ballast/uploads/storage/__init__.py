"""The storage backend in force: `get_storage()` builds it from settings (UPLOADS_BACKEND) once per configuration."""

from __future__ import annotations

import functools

from django.conf import settings

from ballast.uploads.storage.base import Storage


def get_storage() -> Storage:
    if settings.UPLOADS_BACKEND == "s3":
        return _s3(
            settings.S3_BUCKET,
            settings.S3_ENDPOINT_URL,
            settings.S3_REGION,
            settings.S3_ACCESS_KEY_ID,
            settings.S3_SECRET_ACCESS_KEY,
            settings.S3_ADDRESSING_STYLE,
        )
    return _local(settings.UPLOADS_LOCAL_ROOT)


@functools.lru_cache(maxsize=8)
def _local(root: str) -> Storage:
    from ballast.uploads.storage.local import LocalStorage

    return LocalStorage(root)


@functools.lru_cache(maxsize=8)
def _s3(bucket: str, endpoint_url: str, region: str, key_id: str, secret: str, addressing_style: str) -> Storage:
    from ballast.uploads.storage.s3 import S3Storage

    return S3Storage(
        bucket=bucket,
        endpoint_url=endpoint_url,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
        addressing_style=addressing_style,
    )
