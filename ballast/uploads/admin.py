"""Browse intents, documents and cleanup runs (read-only: changes go through the API, which audits)."""

from __future__ import annotations

from django.contrib import admin

from ballast.tenants.admin import ReadOnlySystemAdmin
from ballast.uploads.models import CleanupRun, Document, UploadIntent


@admin.register(UploadIntent)
class UploadIntentAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "tenant", "kind", "filename", "content_type", "size", "status", "expires_at", "created_at"]
    list_filter = ["tenant", "status", "kind"]
    search_fields = ["=id", "filename", "storage_key", "trace_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]


@admin.register(Document)
class DocumentAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "tenant", "name", "content_type", "size", "status", "created_at", "trashed_at", "purged_at"]
    list_filter = ["tenant", "status", "content_type"]
    search_fields = ["=id", "name", "storage_key", "sha256"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]


@admin.register(CleanupRun)
class CleanupRunAdmin(ReadOnlySystemAdmin):
    list_display = [
        "started_at",
        "tenant",
        "kind",
        "trigger",
        "dry_run",
        "intents_cleaned",
        "orphans_deleted",
        "documents_purged",
        "bytes_freed",
    ]
    list_filter = ["tenant", "kind", "trigger", "dry_run"]
    date_hierarchy = "started_at"
    list_select_related = ["tenant"]
