"""The engine's hot statements, prepared on the server (JOBS_PREPARED_STATEMENTS).

Django's cursors bind parameters client-side, so Postgres plans every run anew, and a statement on the
partitioned jobs_job is planned over each of its partitions: measured 0.96 ms a run for the acknowledgement,
0.27 ms prepared. Only statements that run per job go through here: enqueue, claim, acknowledgement.

A migration that alters a table under a prepared statement (`ALTER COLUMN ... TYPE`) makes Postgres plan it again;
its result columns carry explicit casts (jobs.sql), so their types, and the plan's, do not change. One whose result
type changed anyway is deallocated and run again, once, when no transaction was open.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from psycopg import pq

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
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:  # Django's default turns preparing off; this allows explicit prepares only
        raw.prepare_threshold = EXPLICIT_PREPARES_ONLY
    with connection.wrap_database_errors:
        try:
            return _run_prepared(raw, statement, params)
        except psycopg.errors.FeatureNotSupported as error:
            if PLAN_CHANGED not in str(error) or raw.info.transaction_status != pq.TransactionStatus.IDLE:
                # Inside a transaction the error has aborted it: the caller's rollback forgets every prepared
                # statement of the connection (psycopg deallocates them). The statements' explicit casts
                # (jobs.sql) keep their result types, so that a migration altering a column never gets here.
                raise
            forget_prepared(raw)
            return _run_prepared(raw, statement, params)


def _run_prepared(raw: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(statement, params, prepare=True)
        return list(cursor.fetchall())


def forget_prepared(raw: psycopg.Connection[Any]) -> None:
    """Deallocate every statement prepared on this connection (outside a transaction), on the server and in
    psycopg's cache (`_prepared`), so that the next run prepares them again."""
    raw._prepared.clear()
    raw.execute("DEALLOCATE ALL", prepare=False)
