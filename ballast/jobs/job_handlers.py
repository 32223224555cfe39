"""The jobs app's job types: diagnostics, for smoke tests and operator drills (JOBS_DIAGNOSTICS); an operator's bulk
action, one tenant's share (jobs.bulk); and the outbox wired into the engine: code subscribers' delivery job, the
relay (a scheduler service) and the hot tables' vacuum."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ballast.jobs import bulk
from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic, vacuum
from ballast.jobs.scheduler.services import scheduler_service
from ballast.jobs.subscriber_jobs import DELIVER_JOB
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.outbox.models import OutboxEvent
from ballast.outbox.partitioned_tables import IDEMPOTENCY_RECORDS, OUTBOX, month_start
from ballast.outbox.relay import run_relay
from ballast.outbox.subscribers import get_subscription


@job_handler(
    bulk.JOB_TYPE,
    queue="maintenance",
    max_attempts=5,
    timeout=3600,
    atomic=False,
    schema={"type": "object", "required": ["bulk_id"], "properties": {"bulk_id": {"type": "integer"}}},
)
def run_bulk(ctx: JobContext, payload: dict[str, Any]) -> dict[str, int]:
    """One tenant's share of a confirmed bulk action, in batches; resumes after its last checkpoint."""
    start = int((ctx.last_checkpoint or {}).get("position", 0))
    position = bulk.run_batches(
        bulk_id=payload["bulk_id"],
        tenant_id=ctx.tenant_id,
        start=start,
        on_batch=lambda reached: ctx.checkpoint({"position": reached}),
    )
    return {"position": position}


def diagnostics_enabled() -> bool:
    return bool(settings.JOBS_DIAGNOSTICS)


@job_handler(
    "diagnostics.echo",
    schema={"type": "object", "required": ["value"], "properties": {"value": {}}, "additionalProperties": False},
    enabled=diagnostics_enabled,
    public=True,
    sync_timeout=1,
)
def echo(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"value": payload["value"]}


@job_handler(
    "diagnostics.fail",
    sync_timeout=1,
    max_attempts=3,
    backoff_base=0.5,
    backoff_cap=2,
    schema={
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}, "fail_times": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    },
    enabled=diagnostics_enabled,
    public=True,
)
def fail(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Fails with `message` on attempts 1..fail_times (every attempt when absent), then succeeds."""
    fail_times = payload.get("fail_times")
    if fail_times is None or ctx.attempt <= fail_times:
        raise RuntimeError(payload["message"])
    return {"attempt": ctx.attempt}


@job_handler(
    "diagnostics.sleep",
    timeout=3600,
    backoff_base=0.2,
    backoff_cap=1,
    schema={
        "type": "object",
        "required": ["seconds"],
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": 3600},
            "steps": {"type": "integer", "minimum": 1, "maximum": 10000},
        },
        "additionalProperties": False,
    },
    atomic=False,  # sleeps between checkpoints: no transaction stays open meanwhile
    enabled=diagnostics_enabled,
    public=True,
)
def sleep(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Sleeps in `steps` slices with a checkpoint after each; a retry resumes after the last checkpoint."""
    steps = int(payload.get("steps", 1))
    resumed_from = int((ctx.last_checkpoint or {}).get("steps_done", 0))
    for step in range(resumed_from, steps):
        time.sleep(float(payload["seconds"]) / steps)
        ctx.checkpoint({"steps_done": step + 1})
        ctx.raise_if_cancelled()
    return {"steps_done": steps, "resumed_from": resumed_from}


def chaos_log() -> str:
    return str(getattr(settings, "JOBS_CHAOS_LOG", ""))


CHAOS_STEPS = 10


@job_handler(
    "diagnostics.chaos",
    max_attempts=25,
    backoff_base=0.1,
    backoff_cap=0.5,
    schema={
        "type": "object",
        "required": ["seconds"],
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 60}},
        "additionalProperties": False,
    },
    # Writes to a file named by the environment, never by the payload; off unless JOBS_CHAOS_LOG is set.
    enabled=lambda: bool(chaos_log()),
    public=True,  # the chaos plans post it through the API
)
def chaos(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """For bench/chaos.py and its test: logs each attempt's start and end (outside the database); a job of a
    second or more writes one audit row per step and checkpoints it, so every checkpoint's work can be checked."""
    import os

    def log(kind: str) -> None:
        line = f"{kind} {ctx.job_id} {ctx.attempt} {os.getpid()} {time.time():.6f}\n"
        with open(chaos_log(), "a") as file:
            file.write(line)

    log("S")
    try:
        _chaos_work(ctx, float(payload["seconds"]))
    except BaseException:
        log("F")  # the attempt ended here (a database error, a timeout): a later attempt may start
        raise
    log("E")
    return {"seconds": float(payload["seconds"])}


def _chaos_work(ctx: JobContext, seconds: float) -> None:
    from ballast.tenants.audit import record

    if seconds < 1:
        time.sleep(seconds)
    else:
        done = int((ctx.last_checkpoint or {}).get("step", 0))
        for step in range(done + 1, CHAOS_STEPS + 1):
            time.sleep(seconds / CHAOS_STEPS)
            record(
                tenant_id=ctx.tenant_id,
                actor="chaos",
                action="diagnostics.chaos_step",
                target_type="job",
                target_id=ctx.job_id,
                data={"step": step},
            )
            ctx.checkpoint({"step": step})


# --------------------------------------------------------------------------------------------------- the outbox


@job_handler(
    DELIVER_JOB,
    max_attempts=10,
    lifecycle_events=False,
    schema={
        "type": "object",
        "required": ["subscriber", "event_id"],
        "properties": {"subscriber": {"type": "string"}, "event_id": {"type": "string", "format": "uuid"}},
    },
)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one code subscriber for one event (once: the job's idempotency key is event id + subscriber)."""
    subscription = get_subscription(payload["subscriber"])
    if subscription is None:
        raise PermanentError(f"No subscriber {payload['subscriber']!r}")
    event = OutboxEvent.objects.filter(event_id=payload["event_id"]).first()
    if event is None:
        raise PermanentError(f"No event {payload['event_id']} (dropped by retention?)")
    subscription.func(event)
    return {"subscriber": subscription.name, "event_id": payload["event_id"]}


# The outbox's partitions are kept with every other partitioned table's (ballast.lifecycle.maintenance).


@periodic("outbox.vacuum", every=timedelta(minutes=1), requires_owner=True, job_class="cleanup")
def vacuum_hot_tables() -> None:
    """The month's outbox partition, today's idempotency records and the jobs table churn the most (see
    jobs.scheduler.periodic.vacuum). Expired idempotency records go with their day's partition (lifecycle)."""
    today = timezone.now().date()
    vacuum(["jobs_job", OUTBOX.partition_name(month_start(today)), IDEMPOTENCY_RECORDS.partition_name(today)])


# The relay is a service of every scheduler process (it runs until stopped): relays are safe side by side.
scheduler_service("outbox-relay")(run_relay)
