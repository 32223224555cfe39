"""The tenant context: the single way in to tenant-owned rows.

`tenant_scope(tenant_id)` opens a transaction on the app alias and sets
`app.tenant_id` with `set_config(..., true)`: transaction-local, so a pooled
connection handed to the next request carries no tenant. Row-level security
policies read that setting; tenant-scoped managers read the contextvar.
`tenant_scope(tenant_id, statement_timeout_ms=n)` also bounds every statement of
the transaction (SET LOCAL statement_timeout), in the same round trip.

A scope that opens the transaction sends BEGIN and the settings only with the
block's first statement: in one pipeline with it when it is one of Ballast's hot
statements (`take_pending_settings`, `pipelined_settings`: jobs.prepared), in a
round trip just before it otherwise (`send_pending_settings`, an execute wrapper
of Django's cursors). A block that runs nothing sends nothing.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import generators, pq

IDLE = pq.TransactionStatus.IDLE
_TIMEOUT = re.compile(r"[0-9]+ms")
_current_tenant: contextvars.ContextVar[int | None] = contextvars.ContextVar("ballast_tenant_id", default=None)


class TenantContextError(RuntimeError):
    """Tenant-owned data was touched without a tenant context, or the context was misused."""


def current_tenant_id() -> int | None:
    return _current_tenant.get()


def require_tenant_id() -> int:
    """The current tenant, or TenantContextError: tenant code fails closed."""
    tenant_id = _current_tenant.get()
    if tenant_id is None:
        raise TenantContextError(
            "No tenant context: wrap this code in tenants.context.tenant_scope(tenant_id), "
            "or use .unscoped() if it is system code that must cross tenants."
        )
    return tenant_id


def _set_database_tenant(
    using: str, value: str, statement_timeout: str | None = None, *, defer: bool = False
) -> str | None:
    """Set the transaction's tenant, and its statement_timeout if given (one round trip, the transaction's BEGIN
    included when it opens here); returns the statement_timeout that was in force before, when one was given.
    `defer`: when the transaction opens here, send BEGIN and the settings with its first statement instead
    (and return None)."""
    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    if isinstance(raw, psycopg.Connection) and not raw.autocommit and raw.info.transaction_status == IDLE:
        if defer:
            _defer_settings(connection, value, statement_timeout)
            return None
        return _begin_with_tenant(connection, raw, value, statement_timeout)
    with connection.cursor() as cursor:
        if statement_timeout is None:
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [value])
            return None
        cursor.execute(
            "SELECT current_setting('statement_timeout'), set_config('app.tenant_id', %s, true), "
            "set_config('statement_timeout', %s, true)",
            [value, statement_timeout],
        )
        row = cursor.fetchone()
    return str(row[0]) if row else None


def _settings_sql(value: str, statement_timeout: str | None, *, previous: bool) -> str:
    """The settings as SQL text: a tenant id and a `<n>ms` timeout, checked here, so they are written into the text
    (the simple protocol carries no parameters). `previous`: the timeout in force before comes first."""
    if not value.isdigit() or (statement_timeout is not None and not _TIMEOUT.fullmatch(statement_timeout)):
        raise TenantContextError(f"refusing tenant settings {value!r}, {statement_timeout!r}")
    settings_sql = f"set_config('app.tenant_id', '{value}', true)"
    if statement_timeout is not None:
        settings_sql += f", set_config('statement_timeout', '{statement_timeout}', true)"
        if previous:
            settings_sql = f"current_setting('statement_timeout'), {settings_sql}"
    return f"SELECT {settings_sql}"


def _defer_settings(connection: BaseDatabaseWrapper, value: str, statement_timeout: str | None) -> None:
    connection._ballast_pending_settings = _settings_sql(  # type: ignore[attr-defined]
        value, statement_timeout, previous=False
    )
    if send_pending_settings not in connection.execute_wrappers:
        connection.execute_wrappers.append(send_pending_settings)


def take_pending_settings(connection: BaseDatabaseWrapper) -> str | None:
    """The settings statement a tenant_scope left for its first statement, taken: whoever runs that statement
    on psycopg itself sends it first, in the same pipeline (psycopg adds the BEGIN). None if there is none."""
    pending: str | None = getattr(connection, "_ballast_pending_settings", None)
    if pending is not None:
        connection._ballast_pending_settings = None  # type: ignore[attr-defined]
        if connection.queries_logged:  # as Django logs its own cursors' statements (DEBUG, CaptureQueriesContext)
            connection.queries_log.append({"sql": f"BEGIN; {pending}", "time": "0.000"})
    return pending


def send_pending_settings(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Execute wrapper: before the first statement a Django cursor runs in a tenant_scope that opened its
    transaction, BEGIN and the scope's settings, in one round trip of their own. Only Ballast's hot statements
    (jobs.prepared) share a pipeline with them: any other statement may be long, and a handler's deadline must
    be able to interrupt it as an ordinary query."""
    connection = context["connection"]
    pending = take_pending_settings(connection)
    if pending is not None:
        _send_begin(connection, connection.connection, f"BEGIN; {pending}", log=False)
    return execute(sql, params, many, context)


@contextmanager
def pipelined_settings(raw: psycopg.Connection[Any], pending: str | None) -> Iterator[None]:
    """BEGIN and the pending settings (take_pending_settings; None: nothing to send) queued in a pipeline that the
    block's statement joins: one round trip for the three, at the end of the block. Its results are read then."""
    if pending is None:
        yield
        return
    # psycopg opens a transaction itself with a BEGIN and a sync of its own (a round trip) before a statement in
    # a pipeline; told it is in autocommit for the block, it leaves the BEGIN to the pipeline. It is a
    # transaction all the same: the connection is back to non-autocommit, inside it, when the block ends.
    if raw.autocommit or raw.info.transaction_status != IDLE:
        raise TenantContextError("pending tenant settings outside the transaction that left them")
    raw._autocommit = True
    try:
        with raw.pipeline():
            raw.execute("BEGIN")
            raw.execute(pending)
            yield
    except psycopg.OperationalError as error:
        # Interrupted while waiting for the results (a handler's deadline), psycopg cannot leave pipeline mode and
        # says so instead: the connection is of no more use, and the interruption is what happened.
        if raw.pgconn.pipeline_status != pq.PipelineStatus.OFF:
            raw.close()
        interruption = error.__context__
        if interruption is not None and not isinstance(interruption, psycopg.Error):
            raise interruption from None
        raise
    finally:
        raw._autocommit = False


def _begin_with_tenant(
    connection: BaseDatabaseWrapper, raw: psycopg.Connection[Any], value: str, statement_timeout: str | None
) -> str | None:
    """BEGIN and the tenant's settings as one simple query: psycopg would send its own BEGIN in a round trip of
    its own before the first statement."""
    results = _send_begin(connection, raw, f"BEGIN; {_settings_sql(value, statement_timeout, previous=True)}")
    if statement_timeout is None:
        return None
    previous = results[-1].get_value(0, 0)
    return None if previous is None else previous.decode()


def _send_begin(
    connection: BaseDatabaseWrapper, raw: psycopg.Connection[Any], statement: str, *, log: bool = True
) -> list[pq.abc.PGresult]:
    """`statement` (BEGIN and settings) as one simple query, its results. `log`: into Django's query log."""
    started = time.monotonic()
    with connection.wrap_database_errors:
        raw.pgconn.send_query(statement.encode())
        results = raw.wait(generators.execute(raw.pgconn))
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)
    if log and connection.queries_logged:  # as Django logs its own cursors' statements (DEBUG, CaptureQueries...)
        connection.queries_log.append({"sql": statement, "time": f"{time.monotonic() - started:.3f}"})
    return results


@contextmanager
def tenant_scope(
    tenant_id: int,
    *,
    using: str = DEFAULT_DB_ALIAS,
    statement_timeout_ms: int | None = None,
    begin_at_once: bool = False,
) -> Iterator[int]:
    """Run the block in a transaction bound to one tenant. Nesting the same tenant joins the outer scope
    (like atomic(savepoint=False)), and keeps its statement_timeout; nesting another tenant raises.
    `statement_timeout_ms`: no statement of the block runs longer (0: no limit; None: the session's).
    `begin_at_once`: BEGIN and the settings go before the block runs, not with its first statement, so that a
    database out of reach raises here."""
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool) or tenant_id <= 0:
        raise TenantContextError(f"tenant_scope needs a positive integer tenant id, not {tenant_id!r}")
    outer = _current_tenant.get()
    if outer is not None and outer != tenant_id:
        raise TenantContextError(f"Already inside tenant_scope({outer}); refusing to switch to tenant {tenant_id}")
    connection = connections[using]
    if outer == tenant_id and connection.in_atomic_block:
        # Already bound to this tenant: join the outer scope (no savepoint, no round trips).
        yield tenant_id
        return
    had_transaction = connection.in_atomic_block
    timeout = None if statement_timeout_ms is None else f"{max(int(statement_timeout_ms), 0)}ms"
    with transaction.atomic(using=using):
        # Opening the transaction here: nothing to put back at the end, so the settings can wait for the first
        # statement.
        previous_timeout = _set_database_tenant(
            using, str(tenant_id), timeout, defer=not had_transaction and not begin_at_once
        )
        token = _current_tenant.set(tenant_id)
        try:
            yield tenant_id
        finally:
            _current_tenant.reset(token)
            connection._ballast_pending_settings = None  # type: ignore[attr-defined]  # no statement ran
        # Inside a caller's transaction the settings would outlive this block: put them back.
        # (On an exception the savepoint rollback restores them by itself.)
        if had_transaction and outer is None:
            _set_database_tenant(using, "", previous_timeout)
