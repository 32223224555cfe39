"""The one place that writes a job's status: a conditional UPDATE that checks the state machine first.

Writes of a running attempt are fenced by its lease token: a worker whose lease was taken away
(the reaper re-queued the job, a newer attempt holds it) matches no row and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connections

from jobs.states import check_transition


@dataclass(frozen=True)
class Sql:
    """A raw SQL expression as a column value, e.g. Sql("now()")."""

    expression: str


# clock_timestamp(), not now(): several jobs are acknowledged in one transaction, and now() is its start.
NOW = Sql("clock_timestamp()")
CLEAR_LEASE: dict[str, Any] = {"lease_token": None, "lease_expires_at": None}


def transition(
    job_id: int,
    *,
    current: str,
    target: str,
    fence: uuid.UUID | None = None,
    values: dict[str, Any] | None = None,
    using: str = "default",
) -> bool:
    """Move one job from `current` to `target`. False when the row was not in `current` (or the fence failed)."""
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
    with connections[using].cursor() as cursor:
        cursor.execute(f"UPDATE jobs_job SET {', '.join(assignments)} WHERE {where}", params)  # noqa: S608
        return cursor.rowcount == 1
