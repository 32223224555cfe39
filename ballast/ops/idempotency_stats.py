"""Idempotency statistics: what became of each keyed API request (executed, replayed, 422 conflict, 409 in
flight), per minute and tenant.

Counting costs the request one Redis round trip and no Postgres write: api.idempotency reports each outcome to
`count`, which increments a per-minute Redis hash shared by every web process (HINCRBY is atomic). The
scheduler's minute rollup (`flush`) copies every complete minute of the last hour into ops_idempotencyminute,
setting (not adding) the counts, so a pass that runs twice, or after a crash, writes the same numbers, and an
increment that lands late in a minute already copied is picked up by the next pass. A Redis outage loses the
counts of the minutes not yet copied (the current one, and at most the one before); a web or scheduler crash
loses none (the hashes live for two hours).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.utils import timezone

from ballast.api import idempotency
from ballast.jobs import wakeups
from ballast.lib import redis_client
from ballast.ops.rollups import WINDOWS

SYSTEM = "system"
KEY_PREFIX = "ballast:ops:idempotency:"
LOOKBACK_MINUTES = 60  # each flush re-reads this many complete minutes
KEY_TTL_SECONDS = 2 * 60 * 60
RETENTION = timedelta(days=8)
COLUMNS = {
    idempotency.EXECUTED: "executed",
    idempotency.REPLAYED: "replays",
    idempotency.CONFLICT: "conflicts",
    idempotency.IN_FLIGHT: "in_flight",
}

logger = logging.getLogger(__name__)


def _minute(at: float) -> int:
    return int(at // 60)


def count(outcome: str, tenant_id: int) -> None:
    """One keyed request's outcome, in its minute's Redis hash. Never raises: a Redis outage loses the count,
    not the request."""
    key = f"{KEY_PREFIX}{_minute(time.time())}"
    breaker = redis_client.REQUEST_BREAKER
    if breaker.is_open():  # Redis failed a moment ago: the request does not wait for it again
        return
    try:
        with redis_client.client("request").pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"{tenant_id}:{outcome}", 1)
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.execute()
    except Exception as exc:  # a statistic must never fail the request it counts
        if isinstance(exc, redis_client.REDIS_DOWN):
            breaker.trip(exc)
        logger.warning("idempotency statistics: could not count %s for tenant %s: %s", outcome, tenant_id, exc)


def install() -> None:
    """Register `count` with api.idempotency (at app ready)."""
    idempotency.observe(count)


UPSERT = """
INSERT INTO ops_idempotencyminute (minute, tenant_id, executed, replays, conflicts, in_flight)
SELECT * FROM unnest(%s::timestamptz[], %s::bigint[], %s::int[], %s::int[], %s::int[], %s::int[])
ON CONFLICT (minute, tenant_id) DO UPDATE SET executed = EXCLUDED.executed, replays = EXCLUDED.replays,
    conflicts = EXCLUDED.conflicts, in_flight = EXCLUDED.in_flight
WHERE (ops_idempotencyminute.executed, ops_idempotencyminute.replays, ops_idempotencyminute.conflicts,
    ops_idempotencyminute.in_flight) IS DISTINCT FROM
    (EXCLUDED.executed, EXCLUDED.replays, EXCLUDED.conflicts, EXCLUDED.in_flight)
"""


def flush(*, now: float | None = None) -> int:
    """Copy the complete minutes of the last hour from Redis into ops_idempotencyminute (rows changed), and drop
    minutes older than RETENTION. Safe to run twice (it sets the counts). Runs on the scheduler's leader in the
    minute rollup."""
    current = _minute(time.time() if now is None else now)
    minutes = list(range(current - LOOKBACK_MINUTES, current))
    with wakeups.redis_connection().pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hgetall(f"{KEY_PREFIX}{minute}")
        hashes: list[Any] = pipe.execute(raise_on_error=False)
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for minute, fields in zip(minutes, hashes, strict=True):
        if not isinstance(fields, dict):  # not a hash (an error reply): nothing of ours
            continue
        for name, value in fields.items():
            # Only "<tenant>:<outcome>" -> integer is ours; anything else under the prefix is skipped, never loaded.
            tenant, _, outcome = name.decode(errors="replace").partition(":")
            column = COLUMNS.get(outcome)
            if column is None or not tenant.isdigit() or not value.isdigit():
                continue
            row = counts.setdefault((minute, int(tenant)), dict.fromkeys(COLUMNS.values(), 0))
            row[column] += int(value)
    with connections[SYSTEM].cursor() as cursor:  # the trends reach back 7 days at most
        cursor.execute("DELETE FROM ops_idempotencyminute WHERE minute < %s", [timezone.now() - RETENTION])
    if not counts:
        return 0
    keys = sorted(counts)
    columns: list[list[Any]] = [
        [datetime.fromtimestamp(minute * 60, tz=UTC) for minute, _ in keys],
        [tenant for _, tenant in keys],
    ]
    columns += [[counts[key][column] for key in keys] for column in COLUMNS.values()]
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute(UPSERT, columns)
        return cursor.rowcount


TOTALS = """
SELECT COALESCE(sum(executed), 0) AS executed, COALESCE(sum(replays), 0) AS replays,
    COALESCE(sum(conflicts), 0) AS conflicts, COALESCE(sum(in_flight), 0) AS in_flight
FROM ops_idempotencyminute
WHERE minute >= now() - %(span)s AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
"""

SERIES = """
SELECT date_bin(make_interval(mins => %(bucket)s), minute, TIMESTAMPTZ '2000-01-01') AS at,
    sum(executed + replays + conflicts + in_flight) AS keyed, sum(replays) AS replays,
    sum(conflicts) AS conflicts, sum(in_flight) AS in_flight
FROM ops_idempotencyminute
WHERE minute >= now() - %(span)s AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY 1 ORDER BY 1
"""


def totals(*, span: timedelta = timedelta(hours=1), tenant_id: int | None = None) -> dict[str, Any]:
    """Counts over the span (from the rollup table): keyed = every keyed request; hit rate = replays / keyed."""
    with connections[SYSTEM].cursor() as cursor:
        params: dict[str, Any] = {"span": span, "tenant_id": tenant_id}
        cursor.execute(TOTALS, params)
        row = cursor.fetchone()
    assert row is not None
    executed, replays, conflicts, in_flight = (int(value) for value in row)
    keyed = executed + replays + conflicts + in_flight
    return {
        "keyed": keyed,
        "executed": executed,
        "replays": replays,
        "conflicts": conflicts,
        "in_flight": in_flight,
        "hit_rate": replays / keyed if keyed else None,
    }


def trends(*, window: str = "1h", tenant_id: int | None = None) -> dict[str, Any]:
    """Per bucket of the window (the job trends' buckets): keyed requests, replays, 422s and 409s per minute."""
    span, bucket = WINDOWS.get(window, WINDOWS["1h"])
    with connections[SYSTEM].cursor() as cursor:
        params: dict[str, Any] = {"span": span, "bucket": bucket, "tenant_id": tenant_id}
        cursor.execute(SERIES, params)
        rows = cursor.fetchall()
    series: dict[str, list[tuple[datetime, float | None]]] = {
        "keyed": [],
        "replays": [],
        "conflicts": [],
        "in_flight": [],
    }
    for at, keyed, replays, conflicts, in_flight in rows:
        series["keyed"].append((at, float(keyed) / bucket))
        series["replays"].append((at, float(replays) / bucket))
        series["conflicts"].append((at, float(conflicts) / bucket))
        series["in_flight"].append((at, float(in_flight) / bucket))
    return {"totals": totals(span=span, tenant_id=tenant_id), "series": series}
