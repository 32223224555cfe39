"""Job types that exist only in tests (in-process execution)."""

from __future__ import annotations

import time
from typing import Any

from ballast.jobs.registry import job_handler
from ballast.jobs.worker.context import JobContext, PermanentError
from ballast.tenants.audit import record, register_actions

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


SLEEPING_QUERY = "SELECT pg_sleep(30) /* ballast-statement-timeout-test */"


@job_handler("tests.sleeping_query", timeout=1, max_attempts=2)
def sleeping_query(ctx: JobContext, payload: dict[str, Any]) -> None:
    """A query far longer than the handler's deadline, in the handler's own transaction."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SLEEPING_QUERY)


@job_handler("tests.sleeping_query_non_atomic", timeout=1, max_attempts=2, atomic=False)
def sleeping_query_non_atomic(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The same query in one of the short transactions of a non-atomic handler."""
    from django.db import connection

    with ctx.transaction(), connection.cursor() as cursor:
        cursor.execute(SLEEPING_QUERY)


def _statement_timeout() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        return str(cursor.fetchone()[0])


@job_handler("tests.queries_in_time", timeout=5, max_attempts=1)
def queries_in_time(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Short queries, a write and a checkpoint well within the deadline; reports the timeouts in force."""
    from django.db import connection

    before = _statement_timeout()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.05)")
    record(
        tenant_id=ctx.tenant_id, actor="handler", action="tests.side_effect", target_type="job", target_id=ctx.job_id
    )
    ctx.checkpoint({"step": 1})
    return {"before": before, "after_checkpoint": _statement_timeout()}


@job_handler("tests.queries_in_time_non_atomic", timeout=5, max_attempts=1, atomic=False)
def queries_in_time_non_atomic(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    with ctx.transaction():
        inside = _statement_timeout()
    return {"inside": inside, "outside": _statement_timeout()}


@job_handler("tests.acknowledged_behind_a_lock", timeout=1, max_attempts=1)
def acknowledged_behind_a_lock(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Returns while another connection holds the job's row for longer than the handler's whole timeout, so the
    acknowledgement waits on it longer than the handler's statement_timeout."""
    import threading

    from django.db import connections, transaction

    locked = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(using="system"), connections["system"].cursor() as cursor:
                cursor.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR UPDATE", [ctx.job_id])
                locked.set()
                time.sleep(float(payload.get("hold", 1.5)))
        finally:
            locked.set()
            connections["system"].close()

    threading.Thread(target=hold, daemon=True).start()
    locked.wait(5)


# queue/process's classes and synchronous bounds (jobs.worker.processing.TriggerRules).
@job_handler("tests.mail_like", queue="email", job_class="email", sync_timeout=1)
def mail_like(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


@job_handler("tests.cleanup_like", queue="maintenance", job_class="cleanup", sync_timeout=1)
def cleanup_like(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


@job_handler("tests.overruns_its_sync_bound", timeout=60, sync_timeout=0.3, max_attempts=3)
def overruns_its_sync_bound(ctx: JobContext, payload: dict[str, Any]) -> None:
    time.sleep(3)
