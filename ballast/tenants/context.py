"""The tenant context: the single way in to tenant-owned rows.

`tenant_scope(tenant_id)` opens a transaction on the app alias and sets
`app.tenant_id` with `set_config(..., true)`: transaction-local, so a pooled
connection handed to the next request carries no tenant. Row-level security
policies read that setting; tenant-scoped managers read the contextvar.
`tenant_scope(tenant_id, statement_timeout_ms=n)` also bounds every statement of
the transaction (SET LOCAL statement_timeout), in the same round trip.
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


def _set_database_tenant(using: str, value: str, statement_timeout: str | None = None) -> str | None:
    """Set the transaction's tenant, and its statement_timeout if given (one round trip, the transaction's BEGIN
    included when it opens here); returns the statement_timeout that was in force before, when one was given."""
    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    if isinstance(raw, psycopg.Connection) and not raw.autocommit and raw.info.transaction_status == IDLE:
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


def _begin_with_tenant(
    connection: BaseDatabaseWrapper, raw: psycopg.Connection[Any], value: str, statement_timeout: str | None
) -> str | None:
    """BEGIN and the tenant's settings as one simple query: psycopg would send its own BEGIN in a round trip of
    its own before the first statement. The values are a tenant id and a `<n>ms` timeout, checked here, so
    they are written into the text (the simple protocol carries no parameters)."""
    if not value.isdigit() or (statement_timeout is not None and not _TIMEOUT.fullmatch(statement_timeout)):
        raise TenantContextError(f"refusing tenant settings {value!r}, {statement_timeout!r}")
    settings_sql = f"set_config('app.tenant_id', '{value}', true)"
    if statement_timeout is not None:
        settings_sql = (
            f"current_setting('statement_timeout'), {settings_sql}, set_config('statement_timeout', "
            f"'{statement_timeout}', true)"
        )
    statement = f"BEGIN; SELECT {settings_sql}"
    started = time.monotonic()
    with connection.wrap_database_errors:
        raw.pgconn.send_query(statement.encode())
        results = raw.wait(generators.execute(raw.pgconn))
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)
    if connection.queries_logged:  # as Django logs its own cursors' statements (DEBUG, CaptureQueriesContext)
        connection.queries_log.append({"sql": statement, "time": f"{time.monotonic() - started:.3f}"})
    if statement_timeout is None:
        return None
    previous = results[-1].get_value(0, 0)
    return None if previous is None else previous.decode()


@contextmanager
def tenant_scope(
    tenant_id: int, *, using: str = DEFAULT_DB_ALIAS, statement_timeout_ms: int | None = None
) -> Iterator[int]:
    """Run the block in a transaction bound to one tenant. Nesting the same tenant joins the outer scope
    (like atomic(savepoint=False)), and keeps its statement_timeout; nesting another tenant raises.
    `statement_timeout_ms`: no statement of the block runs longer (0: no limit; None: the session's)."""
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
        previous_timeout = _set_database_tenant(using, str(tenant_id), timeout)
        token = _current_tenant.set(tenant_id)
        try:
            yield tenant_id
        finally:
            _current_tenant.reset(token)
        # Inside a caller's transaction the settings would outlive this block: put them back.
        # (On an exception the savepoint rollback restores them by itself.)
        if had_transaction and outer is None:
            _set_database_tenant(using, "", previous_timeout)
