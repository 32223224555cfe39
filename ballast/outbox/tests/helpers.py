"""Test subscribers and helpers for the outbox tests."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ballast.jobs.models import Job
from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext
from ballast.jobs.worker.run import run_now
from ballast.outbox.models import OutboxEvent
from ballast.outbox.services import emit
from ballast.outbox.subscribers import subscriber

SEEN: list[tuple[str, str]] = []


@job_handler("tests.ship_order")
def ship_order(ctx: JobContext, payload: dict[str, Any]) -> None:
    emit(tenant_id=ctx.tenant_id, event_type="order.shipped", target_type="order", target_id=payload["order"])


@subscriber("tests.thing_happened", name="tests.recorder")
def recorder(event: OutboxEvent) -> None:
    SEEN.append((str(event.event_id), event.event_type))


def run_pending_jobs(job_type: str | None = None) -> int:
    """Run every queued job (of a type) in-process, as a worker would. The number run."""
    jobs = Job.objects.unscoped().filter(status="queued")
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    ran = 0
    for job in list(jobs):
        report = run_now(job.pk).as_dict()
        ran += report.get("claimed", 0)
    return ran


def events(**filters: Any) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.unscoped().filter(**filters).order_by("id"))


def emit_in_transaction(**kwargs: Any) -> OutboxEvent:
    with transaction.atomic():
        return emit(**kwargs)
