"""The ops app's admin: the console pages (ops.views) as entries without tables, and the alerts."""

from __future__ import annotations

from django.contrib import admin

from ballast.ops.models import Alert, Batches, Governance, Jobs, Queue, Schedules, Uploads
from ballast.ops.views import (
    BatchesConsoleAdmin,
    GovernanceConsoleAdmin,
    JobsConsoleAdmin,
    QueueConsoleAdmin,
    SchedulesConsoleAdmin,
    UploadsConsoleAdmin,
)
from ballast.tenants.admin import ReadOnlySystemAdmin

admin.site.register(Queue, QueueConsoleAdmin)
admin.site.register(Uploads, UploadsConsoleAdmin)
admin.site.register(Jobs, JobsConsoleAdmin)
admin.site.register(Schedules, SchedulesConsoleAdmin)
admin.site.register(Batches, BatchesConsoleAdmin)
admin.site.register(Governance, GovernanceConsoleAdmin)


@admin.register(Alert)
class AlertAdmin(ReadOnlySystemAdmin):
    list_display = ["opened_at", "rule", "subject", "status", "snoozed_until", "title"]
    list_filter = ["status", "rule"]
