"""Data lifecycle job types: the tenant purge (internal: only operators start it, through tenant_purge), the
partition backfill, and the periodic partition upkeep and retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.lifecycle import governance, purge
from ballast.lifecycle.maintenance import ensure_all_partitions
from ballast.lifecycle.retention import apply_retention
from ballast.tenants.audit import record

PURGE_JOB = "lifecycle.tenant_purge"


@job_handler(
    PURGE_JOB,
    queue="maintenance",
    job_class="cleanup",
    max_attempts=10,
    backoff_base=1,  # a purge killed mid-way resumes within seconds
    backoff_cap=30,
    timeout=6 * 3600,
    atomic=False,  # one short transaction per batch, never one long one
    lifecycle_events=False,  # its events would land in the tables it empties
    schema={
        "type": "object",
        "required": ["scopes", "mode", "actor"],
        "properties": {
            "scopes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "mode": {"enum": list(purge.MODES)},
            "batch": {"type": "integer", "minimum": 1, "maximum": 100000},
            "actor": {"type": "string"},
        },
        "additionalProperties": False,
    },
)
def tenant_purge(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Purges the job's own tenant, resuming after its last checkpoint (progress: the checkpoint's counts).
    The tenant must still be suspended; the `tenant.purged` audit row is written last, so the purge of the
    audit scope does not remove it."""
    from ballast.tenants.models import Tenant

    tenant = Tenant.objects.using(purge.SYSTEM).get(pk=ctx.tenant_id)
    if tenant.is_active:
        raise PermanentError(f"Tenant {tenant.slug!r} is active again: purge refused")
    scopes = list(payload["scopes"])
    state: dict[str, Any] = dict(ctx.last_checkpoint or {})
    try:
        if payload["mode"] == "partition":  # the tenant's own leaves go whole first
            state = purge.purge_partitions_step(
                tenant_id=ctx.tenant_id, scopes=scopes, state=state, keep_job_id=ctx.job_id, save=ctx.checkpoint
            )
        state = purge.purge_step(
            tenant_id=ctx.tenant_id,
            scopes=scopes,
            state=state,
            batch=int(payload.get("batch", purge.DEFAULT_BATCH)),
            keep_job_id=ctx.job_id,
            save=ctx.checkpoint,
        )
    except purge.PurgeError as exc:
        raise PermanentError(str(exc)) from exc
    with ctx.transaction():
        record(
            tenant_id=ctx.tenant_id,
            actor=payload["actor"],
            action="tenant.purged",
            target_type="tenant",
            target_id=ctx.tenant_id,
            data={"slug": tenant.slug, "job_id": ctx.job_id, "mode": payload["mode"], "scopes": scopes, **state},
            using=DEFAULT_DB_ALIAS,
        )
    return {"mode": payload["mode"], **state}


BACKFILL_JOB = "lifecycle.partition_backfill"


@job_handler(
    BACKFILL_JOB,
    queue="maintenance",
    max_attempts=10,
    backoff_base=1,
    backoff_cap=30,
    timeout=12 * 3600,
    atomic=False,  # each id range commits on its own; the checkpoint follows it
    lifecycle_events=False,
    schema={
        "type": "object",
        "required": ["table", "column"],
        "properties": {
            "table": {"type": "string"},
            "column": {"type": "string"},
            "batch": {"type": "integer", "minimum": 1, "maximum": 1000000},
        },
        "additionalProperties": False,
    },
)
def partition_backfill(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Copies the table into its shadow in id ranges, resuming after the last checkpointed range."""
    from ballast.lifecycle import convert

    last = ctx.last_checkpoint or {}
    try:
        spec = convert.table(payload["table"], payload["column"])
        return convert.backfill(
            spec,
            start_after=last.get("last_id"),
            batch=int(payload.get("batch", convert.DEFAULT_BATCH)),
            save=ctx.checkpoint,
            copied=int(last.get("copied", 0)),
        )
    except convert.ConvertError as exc:
        raise PermanentError(str(exc)) from exc


# Partition upkeep and retention: periodic tasks of the scheduler's leader, run with the owner's DSN (DDL).
@periodic("lifecycle.partitions", every=timedelta(hours=1), requires_owner=True)
def maintain_partitions() -> None:
    ensure_all_partitions()


@periodic("lifecycle.retention", every=timedelta(hours=1), requires_owner=True, job_class="cleanup")
def retention() -> None:
    apply_retention()


@periodic("lifecycle.table_sizes", every=timedelta(days=1), job_class="audit")
def snapshot_table_sizes() -> None:
    governance.take_snapshot()
