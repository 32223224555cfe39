"""Uploads and documents (uploads app): the storage backend, upload limits, cleanup and the trash."""

from __future__ import annotations

from pathlib import Path

from ballast.settings.environment import APP_ENV, env

__all__ = [
    "S3_ACCESS_KEY_ID",
    "S3_ADDRESSING_STYLE",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_SECRET_ACCESS_KEY",
    "TENANT_STORAGE_QUOTA_BYTES",
    "TRASH_RETENTION_DAYS",
    "UPLOADS_BACKEND",
    "UPLOADS_DEMO_PAGE",
    "UPLOADS_LOCAL_ROOT",
    "UPLOAD_ALLOWED_TYPES",
    "UPLOAD_CLEANUP_GRACE_SECONDS",
    "UPLOAD_DOWNLOAD_REDIRECT_SECONDS",
    "UPLOAD_DOWNLOAD_URL_SECONDS",
    "UPLOAD_INTENT_TTL_SECONDS",
    "UPLOAD_MAX_BYTES",
]

# local: files under UPLOADS_LOCAL_ROOT, direct uploads and downloads through app-signed URLs (one web host).
# s3: any S3-compatible store; direct uploads are presigned POSTs, downloads presigned GETs.
UPLOADS_BACKEND: str = env.str("UPLOADS_BACKEND", default="local")
if UPLOADS_BACKEND not in ("local", "s3"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"UPLOADS_BACKEND must be 'local' or 's3', not {UPLOADS_BACKEND!r}")
UPLOADS_LOCAL_ROOT: str = env.str("UPLOADS_LOCAL_ROOT", default=str(Path("var", "uploads").resolve()))
S3_ENDPOINT_URL: str = env.str("S3_ENDPOINT_URL", default="")  # empty: AWS itself
S3_BUCKET: str = env.str("S3_BUCKET", default="")
S3_REGION: str = env.str("S3_REGION", default="us-east-1")
# Empty: boto3's own chain (environment, instance profile, ...).
S3_ACCESS_KEY_ID: str = env.str("S3_ACCESS_KEY_ID", default="")
S3_SECRET_ACCESS_KEY: str = env.str("S3_SECRET_ACCESS_KEY", default="")
# path for most self-hosted stores (MinIO, moto); virtual or auto for AWS.
S3_ADDRESSING_STYLE: str = env.str("S3_ADDRESSING_STYLE", default="path")
if UPLOADS_BACKEND == "s3" and not S3_BUCKET:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("UPLOADS_BACKEND=s3 needs S3_BUCKET")

UPLOAD_MAX_BYTES: int = env.int("UPLOAD_MAX_BYTES", default=25 * 1024 * 1024)
UPLOAD_ALLOWED_TYPES: list[str] = env.list(
    "UPLOAD_ALLOWED_TYPES",
    default=[
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/octet-stream",
    ],
)
# Declared bytes of live intents plus documents not yet purged, per tenant. Unset: no quota.
TENANT_STORAGE_QUOTA_BYTES: int | None = env.int("TENANT_STORAGE_QUOTA_BYTES", default=None)
# An intent (and its signed direct-upload policy) expires this long after it was created.
UPLOAD_INTENT_TTL_SECONDS: int = env.int("UPLOAD_INTENT_TTL_SECONDS", default=3600)
# Expired intents keep their objects this much longer before the cleanup job deletes them.
UPLOAD_CLEANUP_GRACE_SECONDS: int = env.int("UPLOAD_CLEANUP_GRACE_SECONDS", default=3600)
# How long the app's download links live (each use checks that the document is still active).
UPLOAD_DOWNLOAD_URL_SECONDS: int = env.int("UPLOAD_DOWNLOAD_URL_SECONDS", default=300)
# S3: the presigned GET a link redirects to, made at each use, lives only this long.
UPLOAD_DOWNLOAD_REDIRECT_SECONDS: int = env.int("UPLOAD_DOWNLOAD_REDIRECT_SECONDS", default=10)
TRASH_RETENTION_DAYS: int = env.int("TRASH_RETENTION_DAYS", default=30)
# The demo page at /uploads/demo: dev and ci only, whatever this says.
UPLOADS_DEMO_PAGE: bool = APP_ENV in ("dev", "ci") and env.bool("UPLOADS_DEMO_PAGE", default=True)
