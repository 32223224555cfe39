"""Ballast's benchmark job type. Registered only where `bench` is an installed app (bench.settings)."""

from __future__ import annotations

from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext
from bench.starts import record_start

JOB_TYPE = "bench.noop"


@job_handler(
    JOB_TYPE,
    schema={"type": "object", "required": ["seq"], "properties": {"seq": {"type": "integer"}}},
)
def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_start(payload["seq"], "ballast")
