"""The engine's hot statements, prepared on the server (JOBS_PREPARED_STATEMENTS).

Django's cursors bind parameters client-side, so Postgres plans every run anew, and a statement on the
partitioned jobs_job is planned over each of its partitions: measured 0.96 ms a run for the acknowledgement,
0.27 ms prepared. Only statements that run per job go through here: enqueue, claim, acknowledgement.

A migration that alters a table under a prepared statement (`ALTER COLUMN ... TYPE`) makes Postgres plan it again;
its result columns carry explicit casts (jobs.sql), so their types, and the plan's, do not change. One whose result
type changed anyway is deallocated and run again, once, when no transaction was open.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import pq

from ballast.tenants.context import pipelined_settings, take_pending_settings

# A prepare threshold no statement reaches by repetition: only `prepare=True` prepares.
EXPLICIT_PREPARES_ONLY = 2**31 - 1
# A prepared statement whose result columns changed type (a DDL on a table it reads), sqlstate 0A000.
PLAN_CHANGED = "cached plan must not change result type"


def rows(using: str, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A hot statement's rows, the statement prepared on the server (JOBS_PREPARED_STATEMENTS): Postgres then
    plans it once per connection, not at each run over every partition of jobs_job (Django's cursors bind
    parameters client-side, so each run is planned anew). Errors are Django's, as from its own cursors."""
    connection = connections[using]
    if not settings.JOBS_PREPARED_STATEMENTS:
        with connection.cursor() as plain:
            plain.execute(statement, params)
            return list(plain.fetchall())
    raw = _raw_for_prepares(connection)
    pending = take_pending_settings(connection)
    return _replanned(
        connection,
        raw,
        functools.partial(_run_prepared, raw, statement, params, pending),
        functools.partial(_run_prepared, raw, statement, params),
    )


def rows_committed(using: str, statement: str, params: dict[str, Any], *, tenant_id: int) -> list[tuple[Any, ...]]:
    """A hot statement's rows, run in a transaction of its own bound to one tenant (as tenant_scope binds it):
    BEGIN, the tenant, the statement and COMMIT go as one pipeline, one round trip. Only outside a transaction
    (autocommit). On an error nothing is committed and the connection is left idle; errors are Django's."""
    connection = connections[using]
    raw = _raw_for_prepares(connection)
    run = functools.partial(_run_committed, raw, statement, params, str(tenant_id))
    return _replanned(connection, raw, run, run)


def _raw_for_prepares(connection: BaseDatabaseWrapper) -> psycopg.Connection[Any]:
    connection.ensure_connection()
    raw: psycopg.Connection[Any] = connection.connection
    if raw.prepare_threshold is None:  # Django's default turns preparing off; this allows explicit prepares only
        raw.prepare_threshold = EXPLICIT_PREPARES_ONLY
    return raw


def _replanned(
    connection: BaseDatabaseWrapper,
    raw: psycopg.Connection[Any],
    run: Callable[[], list[tuple[Any, ...]]],
    again: Callable[[], list[tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    """`run`, with Django's errors; once more as `again` when a statement's result type changed under it and no
    transaction is left open."""
    with connection.wrap_database_errors:
        try:
            return run()
        except psycopg.errors.FeatureNotSupported as error:
            if PLAN_CHANGED not in str(error) or raw.info.transaction_status != pq.TransactionStatus.IDLE:
                # Inside a transaction the error has aborted it: the caller's rollback forgets every prepared
                # statement of the connection (psycopg deallocates them). The statements' explicit casts
                # (jobs.sql) keep their result types, so that a migration altering a column never gets here.
                raise
            forget_prepared(raw)
            return again()


def _run_committed(
    raw: psycopg.Connection[Any], statement: str, params: dict[str, Any], tenant: str
) -> list[tuple[Any, ...]]:
    if not raw.autocommit or raw.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("rows_committed runs a transaction of its own: call it outside any transaction")
    cursor = psycopg.Cursor(raw)
    try:
        with raw.pipeline():
            raw.execute("BEGIN")
            raw.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant])
            cursor.execute(statement, params, prepare=bool(settings.JOBS_PREPARED_STATEMENTS))
            raw.execute("COMMIT")
        return list(cursor.fetchall())
    except BaseException:
        if not raw.closed and raw.info.transaction_status != pq.TransactionStatus.IDLE:
            raw.rollback()
        raise
    finally:
        cursor.close()


def _run_prepared(
    raw: psycopg.Connection[Any], statement: str, params: dict[str, Any], pending: str | None = None
) -> list[tuple[Any, ...]]:
    """`pending`: a tenant_scope's settings, sent first in the same pipeline (tenants.context)."""
    with psycopg.Cursor(raw) as cursor:
        with pipelined_settings(raw, pending):
            cursor.execute(statement, params, prepare=True)
        return list(cursor.fetchall())


def forget_prepared(raw: psycopg.Connection[Any]) -> None:
    """Deallocate every statement prepared on this connection (outside a transaction), on the server and in
    psycopg's cache (`_prepared`), so that the next run prepares them again."""
    raw._prepared.clear()
    raw.execute("DEALLOCATE ALL", prepare=False)
