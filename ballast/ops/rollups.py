"""Per-minute rollups (ops_minuterollup), maintained by the scheduler's leader every minute: the attempts that
finished in each complete minute (by the index attempt_finished) and the due backlog, per queue and tenant; and
the scheduled jobs per type and tenant (ops_typebacklog)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction

from ballast.jobs import policy

SYSTEM = "system"
CATCH_UP = timedelta(hours=1)  # after a pause, at most this much history is rolled up

ROLL_UP_ATTEMPTS = """
INSERT INTO ops_minuterollup (minute, queue, tenant_id, finished, failures, wait_p50, wait_p95, wait_p99, run_p50,
    run_p95, run_p99)
SELECT date_trunc('minute', a.finished_at), j.queue, a.tenant_id, count(*),
    count(*) FILTER (WHERE a.outcome <> 'succeeded'),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - j.created_at) * 1000),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY a.duration_ms)
FROM jobs_jobattempt a JOIN jobs_job j ON j.id = a.job_id
WHERE a.finished_at >= %(start)s AND a.finished_at < date_trunc('minute', now())
GROUP BY 1, 2, 3
ON CONFLICT (minute, queue, tenant_id) DO UPDATE SET finished = EXCLUDED.finished, failures = EXCLUDED.failures,
    wait_p50 = EXCLUDED.wait_p50, wait_p95 = EXCLUDED.wait_p95, wait_p99 = EXCLUDED.wait_p99,
    run_p50 = EXCLUDED.run_p50, run_p95 = EXCLUDED.run_p95, run_p99 = EXCLUDED.run_p99
"""

ROLL_UP_BACKLOG = """
INSERT INTO ops_minuterollup (minute, queue, tenant_id, backlog, finished, failures)
SELECT date_trunc('minute', now()) - interval '1 minute', queue, tenant_id, count(*), 0, 0
FROM jobs_job WHERE status = 'queued' AND available_at <= now() AND queue = ANY(%(queues)s)
GROUP BY queue, tenant_id
ON CONFLICT (minute, queue, tenant_id) DO UPDATE SET backlog = EXCLUDED.backlog
"""


# The type overview's scheduled column: one pass over the queued rows a minute, on the scheduler, not per page load.
ROLL_UP_TYPE_BACKLOG = """
INSERT INTO ops_typebacklog (job_type, tenant_id, scheduled, rolled_at)
SELECT job_type, tenant_id, count(*), now() FROM jobs_job WHERE status = 'queued' AND available_at > now()
GROUP BY job_type, tenant_id
"""


def roll_up() -> int:
    """Roll up every complete minute since the last one rolled (an hour at most); rows written."""
    with connections[SYSTEM].cursor() as cursor:
        cursor.execute("SELECT max(minute), date_trunc('minute', now()) FROM ops_minuterollup")
        row = cursor.fetchone()
        assert row is not None
        last: datetime | None = row[0]
        current: datetime = row[1]
        start = current - CATCH_UP if last is None else max(last, current - CATCH_UP)
        cursor.execute(ROLL_UP_ATTEMPTS, {"start": start})
        written = cursor.rowcount
        cursor.execute(ROLL_UP_BACKLOG, {"queues": list(policy.QUEUES)})
        written += cursor.rowcount
    with transaction.atomic(using=SYSTEM), connections[SYSTEM].cursor() as cursor:
        cursor.execute("DELETE FROM ops_typebacklog")
        cursor.execute(ROLL_UP_TYPE_BACKLOG)
        return written + cursor.rowcount


WINDOWS = {"1h": (timedelta(hours=1), 1), "24h": (timedelta(hours=24), 15), "7d": (timedelta(days=7), 120)}

TRENDS = """
SELECT date_bin(make_interval(mins => %(bucket)s), minute, TIMESTAMPTZ '2000-01-01') AS at,
    max(COALESCE(backlog, 0)) AS backlog, sum(finished) AS finished, sum(failures) AS failures,
    max(wait_p95) AS wait_p95, max(run_p95) AS run_p95, max(run_p50) AS run_p50
FROM (SELECT minute, sum(backlog) AS backlog, sum(finished) AS finished, sum(failures) AS failures,
        max(wait_p95) AS wait_p95, max(run_p95) AS run_p95, max(run_p50) AS run_p50
      FROM ops_minuterollup
      WHERE minute >= now() - %(span)s AND (%(queue)s::text IS NULL OR queue = %(queue)s)
        AND (%(tenant_id)s::bigint IS NULL OR tenant_id = %(tenant_id)s)
      GROUP BY minute) per_minute
GROUP BY 1 ORDER BY 1
"""


def trends(*, window: str = "1h", queue: str | None = None, tenant_id: int | None = None) -> dict[str, Any]:
    """Series per bucket of the window. Percentiles of a bucket are the highest minute's (an upper bound)."""
    span, bucket = WINDOWS.get(window, WINDOWS["1h"])
    with connections[SYSTEM].cursor() as cursor:
        params: dict[str, Any] = {"bucket": bucket, "span": span, "queue": queue, "tenant_id": tenant_id}
        cursor.execute(TRENDS, params)
        rows = cursor.fetchall()
    series: dict[str, list[tuple[datetime, float | None]]] = {
        "backlog": [],
        "throughput": [],
        "failure_rate": [],
        "wait_p95": [],
        "run_p95": [],
    }
    for at, backlog, finished, failures, wait_p95, run_p95, _run_p50 in rows:
        series["backlog"].append((at, None if backlog is None else float(backlog)))
        series["throughput"].append((at, float(finished or 0) / bucket))
        series["failure_rate"].append((at, float(failures) / float(finished) if finished else None))
        series["wait_p95"].append((at, wait_p95))
        series["run_p95"].append((at, run_p95))
    return {"window": window if window in WINDOWS else "1h", "bucket_minutes": bucket, "series": series}
