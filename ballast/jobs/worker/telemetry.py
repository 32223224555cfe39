"""What an attempt tells the outside: its spans (the wait, the handler) and its log lines (start and outcome).

The spans continue the trace of the job's stored traceparent (the enqueue's span): `ballast.job.wait` from when
the job was due to its claim, then `ballast.job <type>` around the attempt, with the job's id, type, attempt,
tenant and outcome. Every record logged during the attempt carries the job's fields (ballast.lib.logging).
How a failure ends (the retry's delay, the dead letter's reason) is noted by jobs.worker.complete as it is
written, for the outcome's line.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.trace import SpanKind, StatusCode

from ballast.jobs.events import job_trace
from ballast.jobs.worker.claim import ClaimedJob
from ballast.lib import telemetry
from ballast.lib.logging import bound
from ballast.lib.tracing import trace_context

logger = logging.getLogger("ballast.jobs.worker")

_FAILED_OUTCOMES = {"retry", "dead_letter", "lease_lost"}


@dataclass
class Attempt:
    outcome: str = ""
    retry_delay: float | None = None
    dead_letter_reason: str = ""
    error: str = ""


_attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("ballast_attempt", default=None)


def note_retry(delay: float, error: str) -> None:
    """The attempt ends in a retry after `delay` seconds."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt.retry_delay, attempt.error = delay, error


def note_dead_letter(reason: str, error: str) -> None:
    attempt = _attempt.get()
    if attempt is not None:
        attempt.dead_letter_reason, attempt.error = reason, error


def _ns(moment: object) -> int | None:
    timestamp = getattr(moment, "timestamp", None)
    return int(timestamp() * 1e9) if timestamp is not None else None


@contextmanager
def observed(job: ClaimedJob) -> Iterator[Attempt]:
    """Around one attempt; the caller sets the yielded Attempt's outcome."""
    attempt = Attempt()
    parent = telemetry.context_of(job.traceparent)
    attributes: dict[str, str | int] = {
        "ballast.job.id": job.id,
        "ballast.job.type": job.job_type,
        "ballast.job.queue": job.queue,
        "ballast.job.attempt": job.attempt,
        "ballast.tenant_id": job.tenant_id,
    }
    due, started = _ns(job.available_at), _ns(job.started_at)
    if due is not None and started is not None:
        wait = telemetry.tracer().start_span(
            "ballast.job.wait", context=parent, start_time=min(due, started), attributes=attributes
        )
        wait.end(end_time=started)
    token = _attempt.set(attempt)
    begun = time.monotonic()
    fields = bound(tenant_id=job.tenant_id, job_id=job.id, job_type=job.job_type, attempt=job.attempt)
    try:
        with (
            fields,
            trace_context(job_trace(job)),
            telemetry.tracer().start_as_current_span(
                f"ballast.job {job.job_type}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
            ) as span,
        ):
            wait_seconds = (started - due) / 1e9 if due is not None and started is not None else None
            logger.info(
                "job %s (%s) started, attempt %s of %s",
                job.id,
                job.job_type,
                job.attempt,
                job.max_attempts,
                extra={"event": "job.started", "wait_seconds": wait_seconds},
            )
            yield attempt
            span.set_attribute("ballast.job.outcome", attempt.outcome)
            if attempt.outcome in _FAILED_OUTCOMES:
                span.set_status(StatusCode.ERROR, attempt.error or attempt.outcome)
            _log_outcome(job, attempt, time.monotonic() - begun)
    finally:
        _attempt.reset(token)


def _log_outcome(job: ClaimedJob, attempt: Attempt, duration: float) -> None:
    extra = {"event": f"job.{attempt.outcome}", "outcome": attempt.outcome, "duration_seconds": round(duration, 6)}
    if attempt.outcome == "succeeded":
        logger.info("job %s succeeded in %.3f s", job.id, duration, extra=extra)
    elif attempt.outcome == "retry":
        delay = round(attempt.retry_delay or 0.0, 3)
        logger.warning(
            "job %s failed (attempt %s of %s), retry in %.3f s: %s",
            job.id,
            job.attempt,
            job.max_attempts,
            delay,
            attempt.error,
            extra={**extra, "retry_delay_seconds": delay, "error": attempt.error},
        )
    elif attempt.outcome == "dead_letter":
        logger.error(
            "job %s dead-lettered (%s) after %s attempts: %s",
            job.id,
            attempt.dead_letter_reason,
            job.attempt,
            attempt.error,
            extra={**extra, "dead_letter_reason": attempt.dead_letter_reason, "error": attempt.error},
        )
    else:
        logger.info("job %s ended: %s", job.id, attempt.outcome, extra=extra)
