"""How psycopg's connection pool retries a Postgres that went away.

psycopg_pool waits 1 s before it tries to connect again after a failed attempt, and doubles the wait at each
failure (psycopg_pool.base.AttemptWithBackoff): after an outage of 30 s, a pool may wait another 30 s before it
connects, while every request and job behind it waits too. Ballast retries every half second instead, for as long
as the pool's reconnect_timeout: an attempt against a server that is down is refused at once and costs nothing,
and a process is back within half a second of its database. The pool has no option for this, so it is set on
the class once per process (the pool reads the class attributes at each attempt).
"""

from __future__ import annotations

from psycopg_pool.base import AttemptWithBackoff

RECONNECT_EVERY_SECONDS = 0.5


def retry_connections_steadily() -> None:
    """Safe to call twice."""
    AttemptWithBackoff.INITIAL_DELAY = RECONNECT_EVERY_SECONDS
    AttemptWithBackoff.DELAY_BACKOFF = 1.0
