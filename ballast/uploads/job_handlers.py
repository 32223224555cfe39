"""The uploads app's job types and their hourly schedule (discovered at start-up by jobs.apps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.scheduler.periodic import periodic
from ballast.jobs.worker.context import JobContext
from ballast.uploads import cleanup, scheduling, services

PAYLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"dry_run": {"type": "boolean"}},
    "additionalProperties": False,
}


@job_handler(scheduling.CLEANUP_INTENTS, queue="maintenance", timeout=1800, schema=PAYLOAD_SCHEMA, job_class="cleanup")
def cleanup_intents(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Abandoned intents lose their objects; orphaned tmp/ objects go. The CleanupRun row is the record."""
    run = cleanup.clean_intents(
        tenant_id=ctx.tenant_id, dry_run=bool(payload.get("dry_run")), job_id=ctx.job_id, actor=f"job:{ctx.job_id}"
    )
    return {
        "cleanup_run": run.pk,
        "intents_cleaned": run.intents_cleaned,
        "orphans_deleted": run.orphans_deleted,
        "bytes_freed": run.bytes_freed,
        "errors": len(run.errors),
    }


@job_handler(scheduling.PURGE_TRASH, queue="maintenance", timeout=1800, schema=PAYLOAD_SCHEMA, job_class="cleanup")
def purge_trash(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Documents in the trash past TRASH_RETENTION_DAYS are purged."""
    run = cleanup.purge_trash(
        tenant_id=ctx.tenant_id, dry_run=bool(payload.get("dry_run")), job_id=ctx.job_id, actor=f"job:{ctx.job_id}"
    )
    return {
        "cleanup_run": run.pk,
        "documents_purged": run.documents_purged,
        "bytes_freed": run.bytes_freed,
        "errors": len(run.errors),
    }


@job_handler(
    scheduling.CONSUME_KEY,
    queue="maintenance",
    timeout=60,
    job_class="cleanup",
    sync_timeout=5,  # one object deleted
    schema={
        "type": "object",
        "properties": {"upload_id": {"type": "integer"}},
        "required": ["upload_id"],
        "additionalProperties": False,
    },
)
def consume_key(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A finalized upload's direct policy has expired: what it stored after finalize is deleted."""
    freed = services.consume_direct_key(
        tenant_id=ctx.tenant_id, intent_id=int(payload["upload_id"]), actor=f"job:{ctx.job_id}"
    )
    return {"bytes_freed": freed or 0}


@periodic("uploads.cleanup", every=timedelta(hours=1), job_class="cleanup")
def hourly_cleanup() -> None:
    scheduling.schedule_cleanups()
    scheduling.sweep_local_partials()
