"""The job handler of docs/first-job.md: the same work as a task, declared with Ballast's own API."""

from __future__ import annotations

from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext


@job_handler(
    "examples.count_words",
    max_attempts=3,
    sync_timeout=1,  # queue/process may run it inside a request, with a 1 s deadline
    schema={
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "maxLength": 10000}},
        "additionalProperties": False,
    },
)
def count_words(ctx: JobContext, payload: dict[str, Any]) -> dict[str, int]:
    return {"words": len(payload["text"].split())}
