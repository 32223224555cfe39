"""Persisted alerts: rules evaluated each minute by the scheduler's leader (ops.job_handlers), and the lifecycle
open → acknowledged → resolved (snoozed until a time; re-opened when the condition returns after resolution).
Every change writes an operator log row and an outbox event `ops.alert.<change>` in one transaction: as the
alert's tenant's event, or the OPS_EVENTS_TENANT's for platform-wide alerts, so a webhook can page someone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ballast.jobs.worker import presence
from ballast.ops import selectors
from ballast.ops.models import Alert
from ballast.outbox import services as outbox
from ballast.tenants.audit import SYSTEM_ACTOR, record_operator_action
from ballast.tenants.context import tenant_scope
from ballast.tenants.models import Tenant

logger = logging.getLogger(__name__)
APP = "default"  # the alert e-mail, in the events tenant
SYSTEM = "system"  # alerts and the operator log: operator-side tables

# The changes the rules make on their own (the operator's go through ops.actions).
SYSTEM_CHANGES = {"opened": "ops.alert.open", "reopened": "ops.alert.reopen", "resolved": "ops.alert.auto_resolve"}


@dataclass(frozen=True)
class Condition:
    rule: str
    subject: str
    title: str
    detail: str = ""
    tenant_id: int | None = None


def events_tenant_id(alert: Alert) -> int | None:
    if alert.tenant_id is not None:
        return alert.tenant_id
    if not settings.OPS_EVENTS_TENANT:
        return None
    return Tenant.objects.using("system").filter(slug=settings.OPS_EVENTS_TENANT).values_list("pk", flat=True).first()


def announce(alert: Alert, change: str, *, actor: str) -> None:
    """The outbox event of one change, in the caller's transaction (and an email when an alert opens)."""
    tenant_id = events_tenant_id(alert)
    if tenant_id is None:
        return
    payload = {
        "alert_id": alert.pk,
        "rule": alert.rule,
        "subject": alert.subject,
        "title": alert.title,
        "status": alert.status,
        "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
    }
    with tenant_scope(tenant_id):
        outbox.emit(
            tenant_id=tenant_id,
            event_type=f"ops.alert.{change}",
            target_type="alert",
            target_id=alert.pk,
            payload=payload,
            actor=actor,
        )
        if change in ("opened", "reopened") and settings.OPS_ALERT_EMAILS:
            from ballast.emails.services import send_email

            send_email(
                tenant=tenant_id,
                to=list(settings.OPS_ALERT_EMAILS),
                subject=f"[Ballast] {alert.title}",
                body=f"{alert.title}\n\n{alert.detail}\n\nRule: {alert.rule}",
                key=f"ops.alert:{alert.pk}:{change}:{alert.opened_at.isoformat()}",
                email_type="ops.alert",
                related=("alert", alert.pk),
                metadata={"rule": alert.rule, "change": change},
                actor=actor,
            )


def _system_audit(alert: Alert, change: str) -> None:
    record_operator_action(
        actor=SYSTEM_ACTOR,
        action=SYSTEM_CHANGES[change],
        target_type="alert",
        target_id=alert.pk,
        tenant_id=alert.tenant_id,
        data={"rule": alert.rule, "subject": alert.subject},
        using=SYSTEM,
    )


def conditions() -> list[Condition]:
    """What is wrong now, by rule. Reads the snapshot (indexed counts) and a few small queries."""
    found: list[Condition] = []
    snap = selectors.snapshot()
    for queue in snap.queues:
        if queue.oldest_due_seconds is not None and queue.oldest_due_seconds > settings.OPS_ALERT_OLDEST_DUE_SECONDS:
            found.append(
                Condition(
                    "oldest_due",
                    queue.queue,
                    f"Queue {queue.queue}: the oldest due job waits {int(queue.oldest_due_seconds)} s",
                )
            )
        if snap.redis_ok and queue.due and not queue.workers and not queue.paused:
            found.append(Condition("no_worker", queue.queue, f"Queue {queue.queue} has due jobs and no worker"))
    for row in selectors.failure_rates(minutes=settings.OPS_ALERT_FAILURE_WINDOW_MINUTES):
        if row["finished"] >= 10 and row["failures"] / row["finished"] > settings.OPS_ALERT_FAILURE_RATE:
            found.append(
                Condition(
                    "failure_rate",
                    row["queue"],
                    f"Queue {row['queue']}: {row['failures']} of {row['finished']} attempts failed "
                    f"in {settings.OPS_ALERT_FAILURE_WINDOW_MINUTES} min",
                )
            )
    for unknown in presence.unknown_queued_types():
        found.append(
            Condition(
                "unknown_type",
                unknown.job_type,
                f"Job type {unknown.job_type}: {unknown.queued} queued jobs, the oldest "
                f"{int(unknown.oldest_seconds)} s old, and no live worker knows the type "
                "(deploy the workers, or discard the jobs)",
            )
        )
    recent = selectors.dead_letters_since(minutes=10)
    if recent >= settings.OPS_ALERT_DEAD_LETTERS_PER_10_MIN:
        found.append(Condition("dead_letters", "all", f"{recent} jobs dead-lettered in the last 10 minutes"))
    if not snap.leader_live:
        found.append(Condition("no_leader", "scheduler", "No scheduler leader"))
    if not snap.redis_ok:
        found.append(Condition("redis", "redis", "Redis is unreachable"))
    if snap.outbox_lag_seconds is not None and snap.outbox_lag_seconds > settings.OPS_ALERT_OUTBOX_LAG_SECONDS:
        found.append(Condition("outbox_lag", "outbox", f"Outbox lag is {int(snap.outbox_lag_seconds)} s"))
    for endpoint in selectors.disabled_endpoints():
        found.append(
            Condition(
                "webhook_disabled",
                f"endpoint:{endpoint['id']}",
                f"Webhook endpoint {endpoint['id']} of {endpoint['slug']} is disabled ({endpoint['reason']})",
                tenant_id=endpoint["tenant_id"],
            )
        )
    return found


@dataclass
class EvaluationReport:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0


def evaluate(found: list[Condition] | None = None) -> EvaluationReport:
    """Open, re-open and resolve alerts so that they match the conditions found now."""
    found = conditions() if found is None else found
    report = EvaluationReport()
    firing = {(c.rule, c.subject): c for c in found}
    with transaction.atomic(using=SYSTEM), transaction.atomic(using=APP):
        latest: dict[tuple[str, str], Alert] = {}
        for alert in Alert.objects.using(SYSTEM).select_for_update().order_by("id"):
            latest[(alert.rule, alert.subject)] = alert  # the newest row per (rule, subject) wins
        for key, condition in firing.items():
            found_alert = latest.get(key)
            if found_alert is None:
                alert = Alert.objects.using(SYSTEM).create(
                    rule=condition.rule,
                    subject=condition.subject,
                    tenant_id=condition.tenant_id,
                    title=condition.title,
                    detail=condition.detail,
                )
                change = "opened"
                report.opened += 1
            elif (alert := found_alert).status == Alert.Status.RESOLVED:
                alert.status, alert.title, alert.snoozed_until = Alert.Status.OPEN, condition.title, None
                alert.acknowledged_at, alert.acknowledged_by = None, ""
                alert.resolved_at, alert.resolved_by = None, ""
                alert.save(using=SYSTEM)
                change = "reopened"
                report.reopened += 1
            else:
                if alert.title != condition.title:
                    alert.title = condition.title
                    alert.save(using=SYSTEM, update_fields=["title"])
                continue
            _system_audit(alert, change)
            announce(alert, change, actor=SYSTEM_ACTOR)
        for key, alert in latest.items():
            if key in firing or alert.status == Alert.Status.RESOLVED:
                continue
            alert.status, alert.resolved_at, alert.resolved_by = Alert.Status.RESOLVED, timezone.now(), SYSTEM_ACTOR
            alert.save(using=SYSTEM, update_fields=["status", "resolved_at", "resolved_by"])
            _system_audit(alert, "resolved")
            announce(alert, "resolved", actor=SYSTEM_ACTOR)
            report.resolved += 1
    return report
