"""Periodic clean-up: deliveries left in `sending` by a job that will not run again."""

from __future__ import annotations

from django.db import transaction

from ballast.emails import transitions
from ballast.emails.delivery import lock_delivery
from ballast.emails.models import DeliveryStatus as S
from ballast.emails.models import EmailDelivery
from ballast.jobs.models import Job
from ballast.jobs.states import TERMINAL

SYSTEM = "system"
ABANDONED_ERROR = "Its job ended while an attempt was sending (the worker died on its last attempt)"


def mark_abandoned_sendings(*, limit: int = 500) -> int:
    """`sending` deliveries whose job has ended become `unknown` (audited); how many. Crosses tenants.

    Without this, a worker that dies on the job's last attempt leaves `sending` forever (the reaper
    dead-letters the job, and no attempt comes to record `unknown`). A delivery whose attempt is still
    alive (it holds the delivery's lock) is left alone. Safe to run twice and concurrently.
    """
    ended_jobs = Job.objects.unscoped(SYSTEM).filter(status__in=TERMINAL).values("id")
    candidates = list(
        EmailDelivery.objects.unscoped(SYSTEM)
        .filter(status=S.SENDING, job_id__in=ended_jobs)
        .values_list("pk", flat=True)[:limit]
    )
    marked = 0
    for delivery_id in candidates:
        with transaction.atomic(using=SYSTEM):
            if not lock_delivery(delivery_id, using=SYSTEM):
                continue
            delivery = EmailDelivery.objects.unscoped(SYSTEM).filter(pk=delivery_id, status=S.SENDING).first()
            if delivery is not None and transitions.transition(
                delivery, target=S.UNKNOWN, values={"last_error": ABANDONED_ERROR}, audit={"error": ABANDONED_ERROR}
            ):
                marked += 1
    return marked
