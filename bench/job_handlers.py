"""Ballast's benchmark job type. Registered only where `bench` is an installed app (bench.settings)."""

from __future__ import annotations

import time
from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext
from bench.starts import record_start

JOB_TYPE = "bench.noop"


@job_handler(
    JOB_TYPE,
    schema={
        "type": "object",
        "required": ["seq"],
        "properties": {"seq": {"type": "integer"}, "sleep": {"type": "number", "minimum": 0}},
    },
)
def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_start(payload["seq"], "ballast")
    if payload.get("sleep"):
        time.sleep(payload["sleep"])  # the I/O-bound phase: a handler waiting on the network
