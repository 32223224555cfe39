"""Why an upload or document operation was refused, each with the HTTP status and code the API answers."""

from __future__ import annotations


class UploadError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidUpload(UploadError):
    """A declared name, type, size or checksum does not fit (400, per field)."""


class TooLarge(UploadError):
    status = 413
    code = "upload_too_large"


class QuotaExceeded(UploadError):
    status = 413
    code = "quota_exceeded"


class TypeNotAllowed(UploadError):
    status = 415
    code = "type_not_allowed"


class LengthRequired(UploadError):
    status = 411
    code = "length_required"


class IncompleteUpload(UploadError):
    code = "incomplete_body"


class ChecksumMismatch(UploadError):
    status = 422
    code = "checksum_mismatch"


class VerificationFailed(UploadError):
    """What storage holds contradicts the declaration (size, type, bytes or checksum)."""

    status = 422
    code = "verification_failed"


class NotUploaded(UploadError):
    status = 409
    code = "not_uploaded"


class UploadExpired(UploadError):
    status = 410
    code = "upload_expired"


class StateConflict(UploadError):
    status = 409
    code = "conflict"


class NotFound(UploadError):
    status = 404
    code = "not_found"
