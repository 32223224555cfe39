"""Job types that exist only in tests (in-process execution)."""

from __future__ import annotations

import time
from typing import Any

from jobs.context import JobContext, PermanentError
from jobs.registry import job_handler
from tenants.audit import record

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
