"""API problem types of uploads and documents (ballast.uploads.errors), and of the local storage endpoints."""

from ballast.api.problem_details import ProblemType, register_problem_types

register_problem_types(
    ProblemType("upload-too-large", (413,), "The declared size is over UPLOAD_MAX_BYTES."),
    ProblemType("quota-exceeded", (413,), "The upload would take the tenant over TENANT_STORAGE_QUOTA_BYTES."),
    ProblemType("type-not-allowed", (415,), "The declared content type is not in UPLOAD_ALLOWED_TYPES."),
    ProblemType("length-required", (411,), "The relay got no Content-Length."),
    ProblemType("incomplete-body", (400,), "The relayed body ended before the declared size; nothing was kept."),
    ProblemType("checksum-mismatch", (422,), "The relayed bytes do not match the declared SHA-256."),
    ProblemType(
        "verification-failed",
        (422,),
        "At finalize, what storage holds contradicts the declaration (size, type, first bytes or checksum).",
    ),
    ProblemType("not-uploaded", (409,), "Finalize before storage holds the upload's object."),
    ProblemType("upload-expired", (410,), "The upload intent expired before it was finalized."),
    ProblemType(
        "storage-refused",
        (400, 403, 404, 411),
        "The local storage endpoints (direct POST, signed download) refused the request; `code` is the S3 "
        "error code an S3 bucket would answer (AccessDenied, EntityTooLarge, EntityTooSmall, BadDigest, ...).",
        codes=(
            "AccessDenied",
            "NoSuchKey",
            "MissingContentLength",
            "InvalidRequest",
            "MalformedPOSTRequest",
            "IncompleteBody",
            "InvalidArgument",
            "EntityTooLarge",
            "EntityTooSmall",
            "BadDigest",
        ),
    ),
)
