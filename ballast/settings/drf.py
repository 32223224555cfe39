"""Django REST framework and drf-spectacular (OpenAPI)."""

from __future__ import annotations

from ballast.settings.environment import env
from ballast.settings.security import TRUSTED_PROXY

__all__ = [
    "API_MAX_BODY_BYTES",
    "API_MAX_JSON_DEPTH",
    "API_RATE_PER_TENANT",
    "API_RATE_PER_TOKEN",
    "QUEUE_PROCESS_RATE",
    "REST_FRAMEWORK",
    "SPECTACULAR_SETTINGS",
]

# Abuse limits (api/throttling.py), counted in Redis so every web process shares them; empty disables one.
API_RATE_PER_TOKEN: str = env.str("API_RATE_PER_TOKEN", default="1200/min")
API_RATE_PER_TENANT: str = env.str("API_RATE_PER_TENANT", default="6000/min")
QUEUE_PROCESS_RATE: str = env.str("QUEUE_PROCESS_RATE", default="30/min")

# Request limits of the JSON API (ballast.api.parsers), answered 413 and 400 problem details. Upload relays
# stream their bytes and are bounded by the declared size (UPLOAD_MAX_BYTES) instead.
API_MAX_BODY_BYTES: int = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_MAX_JSON_DEPTH: int = env.int("API_MAX_JSON_DEPTH", default=64)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ballast.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ballast.api.permissions.IsTenantMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ballast.api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "ballast.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "ballast.api.problem_details.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [
        "ballast.api.throttling.TokenRateThrottle",
        "ballast.api.throttling.TenantRateThrottle",
    ],
    # A caller's address (throttles without a token): X-Forwarded-For's last hop only behind the trusted proxy,
    # which appends it; otherwise REMOTE_ADDR, whatever the client sends.
    "NUM_PROXIES": 1 if TRUSTED_PROXY else 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ballast API",
    "DESCRIPTION": "Reliable, multi-tenant background work. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own (`JobCreateRequest`): read-only fields are not in them.
    "COMPONENT_SPLIT_REQUEST": True,
    # One tag per resource (ballast.api.schema.TAGS maps paths to them).
    "TAGS": [
        {"name": "jobs", "description": "Background jobs: enqueue, inspect, cancel, retry."},
        {"name": "dead letters", "description": "Jobs that ran out of attempts, and their replay."},
        {"name": "queue", "description": "Processing due jobs synchronously (cron or a tenant admin)."},
        {"name": "schedules", "description": "The tenant's cron schedules: create, change, pause, resume, run now."},
        {"name": "batches", "description": "Groups of jobs with callbacks: progress and cancelling."},
        {"name": "webhooks", "description": "Endpoints that receive the tenant's events, and their deliveries."},
        {"name": "uploads", "description": "Upload intents: declare, send (direct or relay), finalize; cleanup runs."},
        {"name": "documents", "description": "Finalized uploads: download, trash, restore, purge."},
        {"name": "account", "description": "Who the credential is, and the tenant's API tokens."},
        {"name": "events", "description": "The tenant's event log as CloudEvents, and causal chains."},
        {"name": "emails", "description": "The tenant's e-mail deliveries: type, subject, recipients, status."},
    ],
    # Assets come from drf-spectacular-sidecar: deployments may have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`: name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "ballast.jobs.states.JobStatus",
        "UploadStatusEnum": "ballast.uploads.models.UploadIntent.Status",
        "UploadKindEnum": "ballast.uploads.models.UploadIntent.Kind",
        "UploadModeEnum": "ballast.uploads.services.MODES",
        "DocumentStatusEnum": "ballast.uploads.models.Document.Status",
        "CleanupRunKindEnum": "ballast.uploads.models.CleanupRun.Kind",
        "DeadLetterStatusEnum": "ballast.jobs.models.DeadLetter.Status",
        "DeliveryStatusEnum": "ballast.webhooks.models.WebhookDelivery.Status",
        "EventStatusEnum": "ballast.outbox.models.OutboxEvent.Status",
        "EmailStatusEnum": "ballast.emails.models.DeliveryStatus",
    },
}
