"""The one place that writes a delivery's status: a compare-and-set, committed at once on the system alias.

Each write matches the row only if it still has the status and attempt count this code read, so two
writers can never both move it (the loser gets False). It commits on its own connection, independently
of the job's savepoint: "this delivery is now `sending`" must survive the attempt that wrote it.
Every move is audited in the same commit, so the audit trail records every attempt.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ballast.emails.models import DeliveryStatus as S
from ballast.emails.models import EmailDelivery
from ballast.tenants.audit import SYSTEM_ACTOR, record

SYSTEM = "system"
MAX_ERROR_CHARS = 2000

ALLOWED: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.SENDING}),
    # A delivery whose outcome is unknown is sent again, with the same Message-ID (at least once).
    S.UNKNOWN: frozenset({S.SENDING}),
    # Only an explicit re-run reaches a failed delivery (job retry, dead-letter replay): the server did
    # not take it, so trying again cannot duplicate it.
    S.FAILED: frozenset({S.SENDING}),
    # Back to pending: the server answered 4xx, or could not be reached; nothing was accepted.
    S.SENDING: frozenset({S.SENT, S.FAILED, S.UNKNOWN, S.PENDING}),
    S.SENT: frozenset(),
}

AUDIT_ACTIONS: dict[str, str] = {
    S.SENDING: "email.sending",
    S.SENT: "email.sent",
    S.FAILED: "email.failed",
    S.UNKNOWN: "email.outcome_unknown",
    S.PENDING: "email.deferred",
}


class IllegalTransition(RuntimeError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"An email delivery cannot go from {current} to {target}")


def check_transition(current: str, target: str) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(current, target)


def truncated(error: str) -> str:
    return error[:MAX_ERROR_CHARS]


def transition(
    delivery: EmailDelivery,
    *,
    target: str,
    values: dict[str, Any] | None = None,
    new_attempt: bool = False,
    trace_id: str = "",
    audit: dict[str, Any] | None = None,
    actor: str = SYSTEM_ACTOR,
) -> bool:
    """Move the delivery from the status it was read with to `target`; False if the row moved meanwhile.

    `new_attempt` counts an attempt. On success the instance is updated to match the row.
    """
    check_transition(delivery.status, target)
    now = timezone.now()
    changes: dict[str, Any] = {"status": target, "updated_at": now, **(values or {})}
    if new_attempt:
        changes.update(attempts=delivery.attempts + 1, last_attempt_at=now)
    if "last_error" in changes:
        changes["last_error"] = truncated(changes["last_error"])
    with transaction.atomic(using=SYSTEM):
        moved = (
            EmailDelivery.objects.unscoped(SYSTEM)
            .filter(pk=delivery.pk, tenant_id=delivery.tenant_id, status=delivery.status, attempts=delivery.attempts)
            .update(**changes)
        )
        if not moved:
            return False
        record(
            tenant_id=delivery.tenant_id,
            actor=actor,
            action=AUDIT_ACTIONS[target],
            target_type="email_delivery",
            target_id=delivery.pk,
            trace_id=trace_id,
            data={"from": delivery.status, "attempt": changes.get("attempts", delivery.attempts), **(audit or {})},
            using=SYSTEM,
        )
    for field, value in changes.items():
        setattr(delivery, field, value)
    return True
