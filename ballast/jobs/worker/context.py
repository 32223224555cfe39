"""What a handler receives besides its payload.

An atomic handler (the default) runs inside one transaction of its own, `tenant_scope(tenant)` on the app
role; its writes commit exactly when its success does, or at each `ctx.checkpoint(state)`, which commits the
work so far together with the checkpoint. A handler declared `atomic=False` runs outside any transaction
and writes through `with ctx.transaction():`, short fenced transactions, so no handler forces a long one.

Every transaction the context opens for the handler runs under a `statement_timeout` of the time the handler
has left (`JobContext.deadline_at`), set in the round trip that binds the tenant: a query the deadline
interrupts does not go on running on the server. The acknowledgement that follows in the same transaction gets
at least ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS (`release_statement_timeout`).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from ballast.jobs import sql
from ballast.jobs.worker.claim import load_json
from ballast.tenants.context import current_tenant_id, tenant_scope

# The least statement_timeout the acknowledgement gets after the handler, in the handler's transaction.
ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS = 10_000

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raise from a handler (or let ctx.raise_if_cancelled do it) to stop cooperatively."""


class PermanentError(Exception):
    """A failure that retrying cannot fix: the job goes straight to the dead letters."""


class LeaseLost(Exception):
    """This attempt no longer holds the job: its writes are refused."""


class CheckpointError(RuntimeError):
    """ctx.checkpoint() was called where it cannot commit (inside a nested transaction.atomic())."""


def fence(
    job_id: int, token: uuid.UUID, *, retention_at: datetime | None = None, using: str = DEFAULT_DB_ALIAS
) -> bool:
    """Inside a transaction: whether this attempt still holds the job; if so the reaper cannot take it back
    before the transaction ends. Returns cancel_requested. Raises LeaseLost."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql.FENCE, {"job_id": job_id, "token": token, "retention_at": retention_at})
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost(f"Job {job_id} lost its lease")
    return bool(row[0])


def _commit_in_place(tenant_id: int, statement_timeout_ms: int | None, using: str = DEFAULT_DB_ALIAS) -> None:
    """Commit the handler's transaction and go on in a new one, bound to the same tenant (and under
    `statement_timeout_ms`, SET LOCAL settings ending with the commit).

    The handler runs inside tenant_scope (an outermost atomic block); Django cannot commit in the middle of
    one, so this commits the underlying connection, runs the on_commit callbacks registered so far (e.g. the
    wake-ups of jobs the handler enqueued) and binds the new transaction to the tenant again."""
    connection = connections[using]
    if connection.savepoint_ids:
        raise CheckpointError("ctx.checkpoint() cannot run inside a nested transaction.atomic() block")
    connection.connection.commit()
    callbacks, connection.run_on_commit = connection.run_on_commit, []
    with connection.cursor() as cursor:
        if statement_timeout_ms is None:
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
        else:
            cursor.execute(
                "SELECT set_config('app.tenant_id', %s, true), set_config('statement_timeout', %s, true)",
                [str(tenant_id), f"{statement_timeout_ms}ms"],
            )
    for entry in callbacks:
        callback, robust = entry[1], bool(entry[2]) if len(entry) > 2 else False
        try:
            callback()
        except Exception:
            if not robust:
                raise
            logger.exception("on_commit callback failed after a checkpoint")


@dataclass
class JobContext:
    tenant_id: int
    job_id: int
    attempt: int
    trace_id: str
    correlation_id: str
    lease_token: uuid.UUID
    atomic: bool = True
    retention_at: datetime | None = None  # the job's partition key (jobs.sql.IN_PARTITION)
    started: bool = False  # the handler's first line has run (jobs.worker.run)
    deadline_at: float | None = None  # time.monotonic() at which the handler's timeout passes; None: no limit
    _statement_timeout_ms: int | None = field(default=None, repr=False)  # in force in the open transaction
    _last_checkpoint: Any = field(default=None, repr=False)
    _checkpoint_loaded: bool = field(default=False, repr=False)

    def statement_timeout_ms(self) -> int | None:
        """The time the handler has left, in whole milliseconds (at least 1); None without a deadline."""
        if self.deadline_at is None:
            return None
        return max(1, math.floor((self.deadline_at - time.monotonic()) * 1000))

    @contextmanager
    def scope(self) -> Iterator[None]:
        """tenant_scope(tenant) under a statement_timeout of the time left; inside the handler's own scope it
        joins that one (whose timeout stays)."""
        if current_tenant_id() == self.tenant_id and connections[DEFAULT_DB_ALIAS].in_atomic_block:
            with tenant_scope(self.tenant_id):
                yield
            return
        timeout = self.statement_timeout_ms()
        # Begun before the handler's first line: a database gone since the claim is seen while no attempt has
        # started, so none is charged.
        with tenant_scope(self.tenant_id, statement_timeout_ms=timeout, begin_at_once=True):
            self._statement_timeout_ms = timeout
            try:
                yield
            finally:
                self._statement_timeout_ms = None

    def release_statement_timeout(self) -> None:
        """Before the acknowledgement, in the handler's transaction: lift its statement_timeout to at least
        ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS. A round trip only when a shorter one is in force."""
        current = self._statement_timeout_ms
        if current is None or current >= ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS:
            return
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS}ms"]
            )
        self._statement_timeout_ms = ACKNOWLEDGEMENT_STATEMENT_TIMEOUT_MS

    @property
    def last_checkpoint(self) -> Any:
        """The state saved by the latest checkpoint of any attempt, or None."""
        if not self._checkpoint_loaded:
            with self.scope(), connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                cursor.execute(sql.LAST_CHECKPOINT, {"job_id": self.job_id})
                row = cursor.fetchone()
            self._last_checkpoint = None if row is None else load_json(row[0])
            self._checkpoint_loaded = True
        return self._last_checkpoint

    def checkpoint(self, state: Any) -> None:
        """Save progress: the checkpoint and the handler's writes so far commit together, fenced by the lease
        (a resumed attempt never skips work that did not commit). Raises LeaseLost when fenced out."""
        with self.scope(), connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            fence(self.job_id, self.lease_token, retention_at=self.retention_at)
            cursor.execute(
                sql.INSERT_CHECKPOINT,
                {
                    "tenant_id": self.tenant_id,
                    "job_id": self.job_id,
                    "attempt": self.attempt,
                    "state": json.dumps(state),
                },
            )
            if self.atomic:
                timeout = self.statement_timeout_ms() if self._statement_timeout_ms is not None else None
                _commit_in_place(self.tenant_id, timeout)
                self._statement_timeout_ms = timeout
        self._last_checkpoint = state
        self._checkpoint_loaded = True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """For atomic=False handlers: a short transaction in the job's tenant that commits only while this
        attempt holds the job (LeaseLost otherwise), under a statement_timeout of the time the handler has
        left. In an atomic handler it simply joins the handler's."""
        with self.scope():
            fence(self.job_id, self.lease_token, retention_at=self.retention_at)
            yield

    def heartbeat(self) -> None:
        """Extend the lease now (a background thread also does it while the handler runs)."""
        from ballast.jobs.worker.heartbeat import extend_lease

        if not extend_lease(self.job_id, self.lease_token, retention_at=self.retention_at):
            raise LeaseLost(f"Job {self.job_id} lost its lease")

    @property
    def cancel_requested(self) -> bool:
        with self.scope(), connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(sql.CANCEL_REQUESTED, {"job_id": self.job_id, "retention_at": self.retention_at})
            row = cursor.fetchone()
        return bool(row and row[0])

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested:
            raise JobCancelled(f"Job {self.job_id} was cancelled")
