"""The ops app's periodic work (per-minute rollups, the alert rules, the weekly governance report): jobs on the
maintenance queue, one per slot."""

from __future__ import annotations

from datetime import timedelta

from ballast.jobs.scheduler.periodic import periodic
from ballast.ops import alerts, governance_mail, idempotency_stats, rollups


@periodic("ops.rollups", every=timedelta(minutes=1))
def roll_up() -> None:
    rollups.roll_up()
    idempotency_stats.flush()


@periodic("ops.alerts", every=timedelta(minutes=1))
def evaluate_alerts() -> None:
    alerts.evaluate()


@periodic("ops.governance_report", every=timedelta(days=7), job_class="audit")
def weekly_governance_report() -> None:
    governance_mail.mail_governance_report()
