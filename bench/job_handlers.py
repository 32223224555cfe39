"""Ballast's benchmark job type. Registered only where `bench` is an installed app (bench.settings)."""

from __future__ import annotations

from typing import Any

from bench.starts import record_start
from jobs.registry import job_handler
from jobs.worker.context import JobContext

JOB_TYPE = "bench.noop"


@job_handler(
    JOB_TYPE,
    schema={"type": "object", "required": ["seq"], "properties": {"seq": {"type": "integer"}}},
)
def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_start(payload["seq"], "ballast")
