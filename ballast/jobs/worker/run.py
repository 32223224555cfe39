"""Running jobs: the RQ entry point, the loop over one (queue, tenant) pair, and one job's attempt.

A wake-up names a queue and a tenant (jobs.wakeups). The worker claims that pair's due jobs one at a time,
each just before it runs, up to JOBS_BATCH_SIZE or JOBS_SLICE_SECONDS, then passes the baton on. Each job runs
in a transaction of its own (jobs.worker.context) that holds only that job's row and the handler's writes,
so no acknowledgement, heartbeat or reaping ever waits on another job's handler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from ballast.jobs import pauses, policy
from ballast.jobs.events import job_trace
from ballast.jobs.registry import HandlerSpec, UnknownJobType, get_handler, is_registered
from ballast.jobs.wakeups import Baton, messages_waiting, wake
from ballast.jobs.worker import admission, complete, metrics, telemetry
from ballast.jobs.worker.claim import ClaimedJob, NextClaim, claim_next
from ballast.jobs.worker.context import JobCancelled, JobContext, LeaseLost, PermanentError
from ballast.jobs.worker.heartbeat import Heartbeat
from ballast.jobs.worker.timeouts import JobTimeout, deadline
from ballast.lib.tracing import trace_context
from ballast.tenants.context import tenant_scope

logger = logging.getLogger(__name__)

Outcome = complete.Outcome
# A job of a type this process has never heard of went back to the queue, uncharged (no attempt row).
DEFERRED = "deferred"
# The database went away between a job's claim and its handler's start: back to the queue, uncharged.
RELEASED = "released"
# Job types this process was asked to run and does not know (newer code's): it no longer claims them.
_unknown_types: set[str] = set()
# Set when this process is asked to stop or to be quiet (jobs.worker.rq): it starts no further job.
_draining = threading.Event()


def drain() -> None:
    """Start no further job: the wake-up this process holds goes on to another worker once its running job is
    done. For the rest of the process's life. Safe from any thread."""
    _draining.set()


def draining() -> bool:
    return _draining.is_set()


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunReport:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.claimed += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def count(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "succeeded": self.count("succeeded"),
            "retried": self.count("retry"),
            "failed": self.count("dead_letter"),
            "cancelled": self.count("cancelled"),
            "lease_lost": self.count("lease_lost"),
            "deferred": self.count(DEFERRED),
        }


def run_wakeup(message: dict[str, Any]) -> dict[str, int]:
    """The RQ entry point: work the due jobs of the (queue, tenant) the message names."""
    try:
        queue, tenant_id, baton = str(message["queue"]), int(message["tenant_id"]), str(message["baton"])
    except (KeyError, TypeError, ValueError):
        logger.error("dropping a malformed wake-up: %r", message)
        return {}
    if queue not in policy.QUEUES:
        logger.error("dropping a wake-up for unknown queue %r", queue)
        return {}
    try:
        return run_pair(queue, tenant_id, baton=Baton(queue, tenant_id, baton)).as_dict()
    finally:
        connections.close_all()  # back to the pool: a SimpleWorker process lives long


def run_pair(
    queue: str, tenant_id: int, *, baton: Baton | None = None, worker: str | None = None, limit: int | None = None
) -> RunReport:
    """Claim and run due jobs of one queue and tenant, one at a time.

    Whatever fails (a database restarted under it, Redis, a signal), the wake-up is given back: the baton's key
    is dropped, so the scheduler's dispatch wakes the pair again, and the heartbeat stops holding it."""
    worker = worker or worker_identity()
    limit = limit or settings.JOBS_BATCH_SIZE
    report = RunReport()
    heartbeat = Heartbeat.shared()
    heartbeat.hold_baton(baton)
    try:
        _work_pair(queue, tenant_id, baton, worker=worker, limit=limit, report=report, heartbeat=heartbeat)
    except BaseException:
        if baton is not None:
            _give_back(baton)
        raise
    finally:
        heartbeat.hold_baton(None)
    return report


def _give_back(baton: Baton) -> None:
    """After a failure: drop the key unless the baton was passed on (then its message carries it)."""
    try:
        baton.release()
    except Exception:  # Redis down too: the key expires by itself, nobody refreshes it any more
        logger.warning("could not give back the wake-up of %s/%s", baton.queue, baton.tenant_id, exc_info=True)


def _work_pair(
    queue: str,
    tenant_id: int,
    baton: Baton | None,
    *,
    worker: str,
    limit: int,
    report: RunReport,
    heartbeat: Heartbeat,
) -> None:
    slice_ends = time.monotonic() + settings.JOBS_SLICE_SECONDS
    paused = pauses.current()
    if queue in paused.queues:
        # A paused queue is not claimed; the scheduler wakes it again once it is resumed.
        if baton is not None:
            baton.release()
        return
    # A type this process has found it does not know stays unknown to it until it restarts: it leaves such jobs
    # to workers that know them instead of claiming them again.
    excluded: list[str] = paused.excluded_types() + sorted(_unknown_types)
    limits = policy.rate_limits(queue, tenant_id)
    following: ClaimedJob | None = None  # claimed by the previous job's acknowledgement
    while True:
        if draining():
            if following is not None:  # claimed by the acknowledgement, not started: back to the queue
                complete.release_unstarted(following)
            _hand_on(baton, queue, tenant_id)
            break
        if following is None and (report.claimed >= limit or time.monotonic() > slice_ends):
            _hand_on(baton, queue, tenant_id)
            break
        tokens = admission.RateTokens(limits)
        job: ClaimedJob | None
        if following is not None:
            job, following = following, None
        else:
            wait = tokens.take()
            if wait:
                if baton is not None:
                    baton.hold_for(wait)
                break
            job = claim_next(queue=queue, tenant_id=tenant_id, worker=worker, excluded_types=excluded)
        if job is None:
            tokens.refund()  # nothing was claimed with it
            if baton is None:
                break
            if _may_linger(baton) and baton.await_nudge(settings.JOBS_LINGER_SECONDS):
                continue  # a commit nudged this holder: claim again, without a message per job
            # Nothing due: drop the baton, then look once more, for a commit that saw the key still set.
            baton.release()
            baton = None
            heartbeat.hold_baton(None)
            if tokens.take():
                break  # rate limit full: the scheduler wakes the pair again
            job = claim_next(queue=queue, tenant_id=tenant_id, worker=worker, excluded_types=excluded)
            if job is None:
                tokens.refund()
                break
        try:
            if not admission.within_cap(job):
                tokens.refund()
                excluded.append(job.job_type)
                continue
            if job.more and baton is not None:
                baton.pass_on()  # more is due: let the next free worker share this backlog
        except BaseException:
            # Claimed but not started (a Redis or database error, a signal): back to the queue, uncharged.
            complete.release_unstarted(job)
            raise
        # Without rate limits, a successful job's acknowledgement also claims the next one (one commit).
        chain = not limits and job.more and report.claimed + 1 < limit and time.monotonic() < slice_ends
        after = NextClaim(queue, tenant_id, worker, tuple(excluded)) if chain else None
        outcome, following = run_job_and_claim(job, worker=worker, heartbeat=heartbeat, then=after)
        report.add(outcome)
        if outcome == DEFERRED:
            tokens.refund()
            excluded.append(job.job_type)


def _may_linger(baton: Baton) -> bool:
    """Linger on the pair's nudges only while no other wake-up waits for this worker."""
    return settings.JOBS_LINGER_SECONDS > 0 and not draining() and not messages_waiting(policy.QUEUE_ORDER)


def _hand_on(baton: Baton | None, queue: str, tenant_id: int) -> None:
    if baton is not None:
        baton.pass_on()
    else:
        wake([(queue, tenant_id)])


def _context(job: ClaimedJob, spec: HandlerSpec | None) -> JobContext:
    return JobContext(
        tenant_id=job.tenant_id,
        job_id=job.id,
        attempt=job.attempt,
        trace_id=job.trace_id,
        correlation_id=job.correlation_id,
        lease_token=job.lease_token,
        atomic=spec.atomic if spec else True,
        retention_at=job.retention_at,
    )


def _call(spec: HandlerSpec, job: ClaimedJob, ctx: JobContext) -> str:
    try:
        with deadline(spec.timeout), trace_context(job_trace(job)):
            ctx.started = True
            result = spec.func(ctx, job.payload)
    except JobTimeout:
        _cancel_running_query()
        raise
    return complete.encode_result(result)


def _cancel_running_query(using: str = DEFAULT_DB_ALIAS) -> None:
    """The deadline interrupted the handler, perhaps inside a query: cancel it on the server now (its
    statement_timeout would end it a little later), before the transaction is given up."""
    connection = connections[using]
    raw = connection.connection
    if raw is None or raw.closed or raw.info.transaction_status != psycopg.pq.TransactionStatus.ACTIVE:
        return
    try:
        raw.cancel_safe(timeout=2.0)
    except Exception:  # the statement_timeout remains the bound
        logger.warning("could not cancel the query of a timed-out handler", exc_info=True)


def _timed_out_query(exc: Exception) -> bool:
    """A query the handler's statement_timeout cancelled (as opposed to an operator's cancel)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.QueryCanceled) and "statement timeout" in str(cause)


def _set_deadline(spec: HandlerSpec, ctx: JobContext) -> None:
    ctx.deadline_at = time.monotonic() + spec.timeout if spec.timeout > 0 else None


def run_job(job: ClaimedJob, *, worker: str, heartbeat: Heartbeat | None = None, synchronous: bool = False) -> str:
    """One attempt of a claimed job; returns its outcome. `synchronous`: inside a request (queue/process), under
    its type's sync_timeout rather than its timeout."""
    return run_job_and_claim(job, worker=worker, heartbeat=heartbeat, synchronous=synchronous)[0]


@metrics.observed
def run_job_and_claim(
    job: ClaimedJob,
    *,
    worker: str,
    heartbeat: Heartbeat | None = None,
    then: NextClaim | None = None,
    synchronous: bool = False,
) -> tuple[str, ClaimedJob | None]:
    """One attempt of a claimed job: its outcome, and the job `then` claimed with its acknowledgement."""
    with telemetry.observed(job) as attempt:
        attempt.outcome, following = _attempt(
            job, worker=worker, heartbeat=heartbeat, then=then, synchronous=synchronous
        )
    return attempt.outcome, following


def _attempt(
    job: ClaimedJob, *, worker: str, heartbeat: Heartbeat | None, then: NextClaim | None, synchronous: bool
) -> tuple[str, ClaimedJob | None]:
    if not is_registered(job.job_type):
        # Newer code enqueued it (a web deployed before this worker): it waits, uncharged, for a worker that
        # knows the type, never to the dead letters. ops.alerts flags a type no live worker knows.
        logger.warning(
            "job %s is of type %r, unknown to this worker: back to the queue for %g s",
            job.id,
            job.job_type,
            settings.JOBS_UNKNOWN_TYPE_DELAY_SECONDS,
        )
        complete.release_unstarted(job, delay=settings.JOBS_UNKNOWN_TYPE_DELAY_SECONDS)
        _unknown_types.add(job.job_type)
        return DEFERRED, None
    heartbeat = heartbeat or Heartbeat.shared()
    heartbeat.start_job(job.id, job.lease_token, job.retention_at)
    spec: HandlerSpec | None = None
    ctx: JobContext | None = None
    try:
        spec = get_handler(job.job_type)
        if synchronous and spec.sync_timeout is not None:
            spec = replace(spec, timeout=spec.sync_timeout)  # its deadline, statement_timeout and messages
        ctx = _context(job, spec)
        _set_deadline(spec, ctx)
        if spec.atomic:
            # The handler's writes and its acknowledgement commit together, or not at all. Its queries run
            # under a statement_timeout of the time it has left; the acknowledgement under a fresh budget.
            with ctx.scope():
                encoded = _call(spec, job, ctx)
                ctx.release_statement_timeout()
                following = complete.acknowledge(job, encoded, then=then)
        else:
            encoded = _call(spec, job, ctx)
            with tenant_scope(job.tenant_id):
                following = complete.acknowledge(job, encoded, then=then)
        return str(Outcome.SUCCEEDED), following
    except LeaseLost as exc:
        complete.record_lease_lost(job, worker=worker, error=str(exc))
        return str(Outcome.LEASE_LOST), None
    except JobCancelled as exc:
        return complete.record_failure(job, spec=spec, worker=worker, error=str(exc), cancelled=True), None
    except (OperationalError, InterfaceError) as exc:
        if ctx is None or ctx.started:
            return _failed(job, spec, exc, worker=worker), None
        # The database went away between the claim and the handler's first line (its transaction could not
        # begin): no attempt is charged to a job that never started.
        complete.release_unstarted_retrying(job)
        return RELEASED, None
    except Exception as exc:
        return _failed(job, spec, exc, worker=worker), None
    finally:
        heartbeat.end_job()


def _failed(job: ClaimedJob, spec: HandlerSpec | None, exc: Exception, *, worker: str) -> str:
    """The attempt failed with `exc` (being handled): how it ends, a retry or a dead letter."""
    error = f"{type(exc).__name__}: {exc}"
    if spec is not None and _timed_out_query(exc):
        error = f"JobTimeout: a query outlived the handler's timeout of {spec.timeout:g} s ({error})"
    return complete.record_failure(
        job,
        spec=spec,
        worker=worker,
        error=error,
        error_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
        trace=traceback.format_exc(),
        permanent=isinstance(exc, PermanentError | UnknownJobType | complete.ResultTooLarge),
    )


def run_now(job_id: int) -> RunReport:
    """Run one job now in this process if it is queued and due (operators' run-now, tests)."""
    from ballast.jobs.worker.claim import claim_job

    worker = f"now:{worker_identity()}"
    report = RunReport()
    job = claim_job(job_id, worker=worker)
    if job is not None and admission.admit(job):  # the e-mail rate limits and concurrency caps hold here too
        report.add(run_job(job, worker=worker))
    return report
