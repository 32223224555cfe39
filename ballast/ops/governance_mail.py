"""The weekly data-governance report, mailed to OPS_REPORT_EMAILS through Ballast's e-mail path (an email.send
job and its delivery row, under the platform tenant), once per slot of the periodic task ops.governance_report."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from ballast.emails.models import EmailDelivery
from ballast.emails.services import send_email
from ballast.jobs.scheduler.periodic import current_slot, platform_tenant_id
from ballast.lifecycle.governance import governance_report, report_text

REPORT_DAYS = 7
EMAIL_TYPE = "ops.governance_report"


def mail_governance_report(*, days: int = REPORT_DAYS) -> EmailDelivery | None:
    """The last `days` days' report to OPS_REPORT_EMAILS; None when nobody is to receive it. Within a periodic
    slot the delivery is keyed by the slot, so a retried job sends one mail."""
    recipients = list(settings.OPS_REPORT_EMAILS)
    if not recipients:
        return None
    report = governance_report(days=days)
    slot = current_slot()
    key = f"{EMAIL_TYPE}:{slot[1]}" if slot is not None else None
    with transaction.atomic():
        return send_email(
            tenant=platform_tenant_id(),
            to=recipients,
            subject=f"[Ballast] Data governance, {report['since'][:10]} .. {report['until'][:10]}",
            body=report_text(report),
            key=key,
            email_type=EMAIL_TYPE,
            metadata={"days": days},
        )
