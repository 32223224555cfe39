"""Diagnostic job types, for smoke tests and operator drills (JOBS_DIAGNOSTICS)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from jobs.context import JobContext
from jobs.registry import job_handler


def diagnostics_enabled() -> bool:
    return bool(settings.JOBS_DIAGNOSTICS)


@job_handler(
    "diagnostics.echo",
    schema={"type": "object", "required": ["value"], "properties": {"value": {}}, "additionalProperties": False},
    enabled=diagnostics_enabled,
)
def echo(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"value": payload["value"]}


@job_handler(
    "diagnostics.fail",
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
    enabled=diagnostics_enabled,
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
