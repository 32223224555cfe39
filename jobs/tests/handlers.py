"""Job types that exist only in tests (in-process execution)."""

from __future__ import annotations

import time
from typing import Any

from jobs.registry import job_handler
from jobs.worker.context import JobContext, PermanentError
from tenants.audit import record, register_actions

register_actions({"tests.side_effect": "A test handler's write."})
CALLS: list[tuple[int, int]] = []


@job_handler("tests.write_and_succeed", max_attempts=2)
def write_and_succeed(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Writes a row through the app role, as a real handler would, then succeeds."""
    CALLS.append((ctx.job_id, ctx.attempt))
    record(
        tenant_id=ctx.tenant_id, actor="handler", action="tests.side_effect", target_type="job", target_id=ctx.job_id
    )
    if payload.get("steal_lease"):
        payload["steal_lease"](ctx)
    return {"ok": True}


@job_handler("tests.permanent", max_attempts=5)
def permanent(ctx: JobContext, payload: dict[str, Any]) -> None:
    raise PermanentError("this input can never work")


@job_handler("tests.slow", timeout=0.3, max_attempts=2)
def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
    time.sleep(5)


@job_handler("tests.huge_result")
def huge_result(ctx: JobContext, payload: dict[str, Any]) -> str:
    return "x" * 300_000


@job_handler("tests.slow_query", timeout=0.3, max_attempts=2)
def slow_query(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Times out inside a query: the connection is busy when the alarm fires."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(3)")


@job_handler("tests.write_checkpoint_then_fail", max_attempts=3, backoff_base=60, backoff_cap=60)
def write_checkpoint_then_fail(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Step 1 is written and checkpointed; step 2 is written, then the first attempt fails."""
    done = (ctx.last_checkpoint or {}).get("step", 0)
    if done < 1:
        record(
            tenant_id=ctx.tenant_id,
            actor="handler",
            action="tests.side_effect",
            target_type="job",
            target_id=ctx.job_id,
            data={"step": 1},
        )
        ctx.checkpoint({"step": 1})
    record(
        tenant_id=ctx.tenant_id,
        actor="handler",
        action="tests.side_effect",
        target_type="job",
        target_id=ctx.job_id,
        data={"step": 2},
    )
    if ctx.attempt == 1:
        raise RuntimeError("crash after the checkpoint")
    return {"resumed_from": done}


@job_handler("tests.non_atomic", atomic=False)
def non_atomic(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    in_transaction = connection.in_atomic_block
    with ctx.transaction():
        record(
            tenant_id=ctx.tenant_id,
            actor="handler",
            action="tests.side_effect",
            target_type="job",
            target_id=ctx.job_id,
        )
    return {"in_transaction": in_transaction, "wrote": True}


@job_handler("tests.nul_error", max_attempts=1)
def nul_error(ctx: JobContext, payload: dict[str, Any]) -> None:
    raise RuntimeError("bad\x00byte")
