"""Browse jobs, attempts, dead letters (read-only: state changes go through the services)."""

from __future__ import annotations

from django.contrib import admin

from ballast.jobs.models import Checkpoint, DeadLetter, Job, JobAttempt
from ballast.tenants.admin import ReadOnlySystemAdmin


@admin.register(Job)
class JobAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "tenant", "job_type", "queue", "status", "attempts", "max_attempts", "created_at"]
    list_filter = ["tenant", "job_type", "status", "queue"]
    search_fields = ["=id", "idempotency_key", "trace_id", "correlation_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]


@admin.register(JobAttempt)
class JobAttemptAdmin(ReadOnlySystemAdmin):
    list_display = ["job_id", "attempt", "tenant", "outcome", "worker", "started_at", "duration_ms"]
    list_filter = ["tenant", "outcome"]
    search_fields = ["=job__id"]
    list_select_related = ["tenant"]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlySystemAdmin):
    list_display = ["job_id", "sequence", "attempt", "tenant", "created_at"]
    list_filter = ["tenant"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlySystemAdmin):
    list_display = ["id", "job_id", "tenant", "job_type", "reason", "status", "attempts", "created_at"]
    list_filter = ["tenant", "job_type", "status", "reason"]
    list_select_related = ["tenant"]
