"""The one place that writes a job's status: each move is checked against the state machine, then executed
as one of the named statements of jobs.sql.

Writes of a running attempt are fenced by its lease token: a worker whose lease was taken away (the reaper
re-queued the job, a newer attempt holds it) matches no row and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections

from ballast.jobs import sql, wakeups
from ballast.jobs.prepared import rows as prepared_rows
from ballast.jobs.states import JobStatus as S
from ballast.jobs.states import check_transition
from ballast.outbox.services import NOTIFY_CHANNEL, NewEvent, insert_from_cte_sql


@dataclass(frozen=True)
class Sql:
    """A raw SQL expression as a column value, e.g. Sql("now()")."""

    expression: str


# clock_timestamp(), not now(): now() is the start of the transaction.
NOW = Sql("clock_timestamp()")
CLEAR_LEASE: dict[str, Any] = {"lease_token": None, "lease_expires_at": None}


def after(seconds: float) -> Sql:
    """A time `seconds` from now, on the database's clock."""
    return Sql(f"clock_timestamp() + make_interval(secs => {float(seconds)!r})")


def transition(
    job_id: int,
    *,
    current: str,
    target: str,
    fence: uuid.UUID | None = None,
    values: dict[str, Any] | None = None,
    retention_at: datetime | None = None,
    using: str = "default",
) -> bool:
    """Move one job from `current` to `target`. False when the row was not in `current` (or the fence failed).
    `retention_at` (a claimed job's) plans the statement on the job's partition alone."""
    check_transition(current, target)
    assignments = ["status = %s", "updated_at = clock_timestamp()"]
    params: list[Any] = [target]
    for column, value in (values or {}).items():
        if isinstance(value, Sql):
            assignments.append(f"{column} = {value.expression}")
        else:
            assignments.append(f"{column} = %s")
            params.append(value)
    where = "id = %s AND status = %s"
    params += [job_id, current]
    if fence is not None:
        where += " AND lease_token = %s"
        params.append(fence)
    if retention_at is not None:
        where += " AND retention_at = %s"
        params.append(retention_at)
    with connections[using].cursor() as cursor:
        cursor.execute(sql.TRANSITION.format(assignments=", ".join(assignments), where=where), params)
        if cursor.rowcount != 1:
            return False
        batch_id, has_dependants, tenant_id = cursor.fetchone()
    if batch_id is not None:
        _count_in_batch(batch_id, current=current, target=target, using=using)
    if has_dependants and target in _COUNTER:
        _settle_dependants(job_id, tenant_id=tenant_id, ended=target, using=using)
    return True


def _settle_dependants(parent_id: int, *, tenant_id: int, ended: str, using: str) -> None:
    """The jobs waiting for `parent_id`, in the caller's transaction: released when it succeeded, cancelled with
    the reason when it failed for good or was cancelled (and so on down their own dependants)."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql.WAITING_DEPENDANTS, {"tenant_id": tenant_id, "parent_id": parent_id})
        waiting = cursor.fetchall()
    for job_id, queue in waiting:
        if ended == S.SUCCEEDED:
            if transition(job_id, current=S.WAITING, target=S.QUEUED, values={"available_at": NOW}, using=using):
                wakeups.wake_after_commit(queue, tenant_id, using=using)
        else:
            transition(
                job_id,
                current=S.WAITING,
                target=S.CANCELLED,
                values={"finished_at": NOW, "last_error": f"Job {parent_id}, which this job runs after, {ended}"},
                using=using,
            )


_COUNTER = {S.SUCCEEDED: "succeeded", S.FAILED: "failed", S.CANCELLED: "cancelled"}


def _count_in_batch(batch_id: int, *, current: str, target: str, using: str) -> None:
    """Count a member's move into an end (or back out of one) in its batch, in the caller's transaction; the
    move that finishes the batch releases its callbacks."""
    moves = {"succeeded": 0, "failed": 0, "cancelled": 0}
    if target in _COUNTER:
        moves[_COUNTER[S(target)]] += 1
    if current in _COUNTER:
        moves[_COUNTER[S(current)]] -= 1
    if not any(moves.values()):
        return
    delta = sum(moves.values())
    with connections[using].cursor() as cursor:
        cursor.execute(sql.BATCH_MEMBER_MOVED, {**moves, "delta": delta, "batch_id": batch_id})
        row = cursor.fetchone()
    if row is None or not row[5]:
        return
    tenant_id, total, succeeded, failed, cancelled, _, on_complete, on_success = row
    counts = {"id": batch_id, "total": total, "succeeded": succeeded, "failed": failed, "cancelled": cancelled}
    if on_complete is not None:
        _release_callback(on_complete, tenant_id=tenant_id, counts=counts, using=using)
    if on_success is not None and succeeded == total:
        _release_callback(on_success, tenant_id=tenant_id, counts=counts, using=using)
    elif on_success is not None:
        transition(
            on_success,
            current=S.WAITING,
            target=S.CANCELLED,
            values={
                "finished_at": NOW,
                "last_error": f"Batch {batch_id} ended with {failed} failed and {cancelled} cancelled of {total}",
            },
            using=using,
        )


def _release_callback(job_id: int, *, tenant_id: int, counts: dict[str, int], using: str) -> None:
    """waiting → queued, due now, the batch's counts in its payload under "batch" (integers only, so inlined)."""
    fields = ", ".join(f"'{name}', {int(value)}" for name, value in counts.items())
    released = transition(
        job_id,
        current=S.WAITING,
        target=S.QUEUED,
        values={
            "available_at": NOW,
            "payload": Sql(f"payload || jsonb_build_object('batch', jsonb_build_object({fields}))"),
        },
        using=using,
    )
    if released:
        with connections[using].cursor() as cursor:
            cursor.execute(sql.QUEUE_OF_JOB, {"job_id": job_id})
            (queue,) = cursor.fetchone()
        wakeups.wake_after_commit(queue, tenant_id, using=using)


def claim(statement: str, params: dict[str, Any], *, using: str = "system") -> list[tuple[Any, ...]]:
    """queued → running for the rows a claim statement selects (jobs.sql.CLAIM_NEXT / CLAIM_DUE)."""
    check_transition(S.QUEUED, S.RUNNING)
    return prepared_rows(using, statement, params)


def succeed(
    job_id: int,
    *,
    token: uuid.UUID,
    encoded_result: str,
    event: NewEvent | None = None,
    claim_next: dict[str, Any] | None = None,
    retention_at: datetime | None = None,
    using: str = "default",
) -> tuple[bool, tuple[Any, ...]]:
    """running → succeeded with its attempt row (and its event), fenced. Runs in the handler's transaction:
    its writes and this acknowledgement commit together. With `claim_next` (jobs.sql CLAIM_NEXT parameters)
    the same statement claims the next job (queued → running); its row is returned (all NULL: none)."""
    check_transition(S.RUNNING, S.SUCCEEDED)
    params: dict[str, Any] = {
        "job_id": job_id,
        "token": token,
        "result": encoded_result,
        "retention_at": retention_at,
    }
    parts = {
        "event_cte": "",
        "notify": "",
        "claim_cte": "",
        "claim_select": "",
        "claim_join": "",
        "in_partition": sql.IN_PARTITION,
    }
    if event is not None:
        insert, event_params = insert_from_cte_sql(event, cte="acknowledged", expressions={}, named="ev")
        parts |= {
            "event_cte": f", announced AS ({insert})",
            "notify": ", (SELECT pg_notify(%(channel)s, '') FROM acknowledged)",
        }
        params |= {**event_params, "channel": NOTIFY_CHANNEL}
    if claim_next is not None:
        check_transition(S.QUEUED, S.RUNNING)
        parts |= {
            "claim_cte": sql.SUCCEED_CLAIM_CTE,
            "claim_select": sql.SUCCEED_CLAIM_SELECT,
            "claim_join": sql.SUCCEED_CLAIM_JOIN,
        }
        params |= claim_next
    (row,) = prepared_rows(using, sql.SUCCEED.format(**parts), params)
    if row[1] is not None:
        _count_in_batch(row[1], current=S.RUNNING, target=S.SUCCEEDED, using=using)
    if row[2] is not None:  # the tenant, when the job has dependants
        _settle_dependants(job_id, tenant_id=row[2], ended=S.SUCCEEDED, using=using)
    skip = 4 if event is not None else 3
    return row[0] is not None, tuple(row[skip:])
