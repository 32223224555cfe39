"""How psycopg's connection pool retries a Postgres that went away, and what a process's pools hold now.

psycopg_pool waits 1 s before it tries to connect again after a failed attempt, and doubles the wait at each
failure (psycopg_pool.base.AttemptWithBackoff): after an outage of 30 s, a pool may wait another 30 s before it
connects, while every request and job behind it waits too. Ballast retries every half second instead, for as long
as the pool's reconnect_timeout: an attempt against a server that is down is refused at once and costs nothing,
and a process is back within half a second of its database. The pool has no option for this, so it is set on
the class once per process (the pool reads the class attributes at each attempt).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db import connections
from psycopg_pool.base import AttemptWithBackoff

RECONNECT_EVERY_SECONDS = 0.5


def retry_connections_steadily() -> None:
    """Safe to call twice."""
    AttemptWithBackoff.INITIAL_DELAY = RECONNECT_EVERY_SECONDS
    AttemptWithBackoff.DELAY_BACKOFF = 1.0


@dataclass(frozen=True)
class PoolStatus:
    """One process's pool of one database alias, at the moment it was read."""

    alias: str
    in_use: int
    idle: int
    waiting: int
    max_size: int

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def pool_status() -> list[PoolStatus]:
    """The pools this process has opened, by alias (psycopg_pool's get_stats). Opens none: an alias this process
    has not used yet has no pool and is left out."""
    statuses = []
    for alias in connections:
        pools: dict[str, Any] = getattr(connections[alias], "_connection_pools", {})
        pool = pools.get(alias)
        if pool is None:
            continue
        stats = pool.get_stats()
        idle = int(stats.get("pool_available", 0))
        statuses.append(
            PoolStatus(
                alias=alias,
                in_use=max(0, int(stats.get("pool_size", 0)) - idle),
                idle=idle,
                waiting=int(stats.get("requests_waiting", 0)),
                max_size=int(stats.get("pool_max", 0)),
            )
        )
    return statuses
