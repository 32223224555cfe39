"""A job type of "newer code": the chaos plans' web and some of their workers import it (JOBS_HANDLER_MODULES),
the others do not, as in a rolling deploy."""

from __future__ import annotations

import os
import time
from typing import Any

from ballast.jobs.job_handlers import chaos_log
from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext

NEWER_TYPE = "tests.newer_code"


@job_handler(NEWER_TYPE, public=True, schema={"type": "object"})
def newer_code(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Logs its start and end to the chaos log, like diagnostics.chaos."""
    path = chaos_log()
    for kind in ("S", "E"):
        if path:
            with open(path, "a") as file:
                file.write(f"{kind} {ctx.job_id} {ctx.attempt} {os.getpid()} {time.time():.6f}\n")
    return {}
