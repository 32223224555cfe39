"""Browse email deliveries (read-only: state changes go through the services and the email.send job)."""

from __future__ import annotations

from django.contrib import admin

from ballast.emails.models import EmailDelivery
from ballast.tenants.admin import ReadOnlySystemAdmin


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlySystemAdmin):
    list_display = [
        "id",
        "tenant",
        "email_type",
        "status",
        "subject",
        "attempts",
        "message_id",
        "created_at",
        "sent_at",
    ]
    list_filter = ["tenant", "status", "email_type"]
    search_fields = ["=id", "message_id", "key", "provider_message_id", "=job_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
