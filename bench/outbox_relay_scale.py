"""The relay against a large backlog: how it picks a batch from 1,000,000 pending events of 100 tenants.

    .venv/bin/python bench/outbox_relay_scale.py [--events 1000000] [--tenants 100] [--per-aggregate 5]
                                                 [--waiting 100] [--keep]

Runs in a database of its own (`ballast_bench_relay_scale`, created and migrated by the owner role, dropped
afterwards unless --keep), so no relay of another checkout sees the backlog. Fills it with `--events` pending
events spread evenly over `--tenants` tenants, `--per-aggregate` consecutive events of a tenant per aggregate,
and makes the oldest `--waiting` aggregates wait for a retry of their head (their later events must wait too).
Then, for a batch of OUTBOX_BATCH_SIZE:

1. EXPLAIN (ANALYZE, BUFFERS) of the relay's candidate query (outbox.relay._CANDIDATES), and of the query it
   replaced (every pending event's NOT EXISTS, sorted by id), each with its largest Sort node's input rows;
2. the median time of each over a few runs;
3. relay_batch() with a hand-off that does nothing (the candidate query, locks, the mark), as the relay
   runs it: a fresh batch each time, since each one marks its events delivered.

The last stdout line is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DATABASE = "ballast_bench_relay_scale"

# The relay's query before it took turns across tenants: every pending event checked and the result sorted.
PREVIOUS_QUERY = """
SELECT e.id, e.tenant_id FROM outbox_outboxevent e
WHERE e.status = 'pending' AND e.next_attempt_at <= now()
  AND NOT EXISTS (
    SELECT 1 FROM outbox_outboxevent p
    WHERE p.status = 'pending' AND p.tenant_id = e.tenant_id AND p.target_type = e.target_type
      AND p.target_id = e.target_id AND p.id < e.id)
ORDER BY e.id LIMIT %(limit)s
"""
# It ran on this index, which the relay no longer needs (outbox migration 0002 dropped it).
PREVIOUS_INDEX = (
    "CREATE INDEX IF NOT EXISTS bench_pending_aggregate ON outbox_outboxevent "
    "(tenant_id, target_type, target_id, id) WHERE status = 'pending'"
)


def setup_django() -> None:
    os.environ.setdefault("APP_ENV", "dev")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def create_database(keep: bool) -> str:
    """Create and migrate the bench database (as the tests do, conftest.py); point every alias at it."""
    from django.conf import settings
    from django.db import connections

    owner = connections["owner"]
    old_name: str = owner.settings_dict["NAME"]
    owner.settings_dict["TEST"]["NAME"] = DATABASE
    for alias in ("default", "system"):
        connections[alias].settings_dict["NAME"] = DATABASE
        settings.DATABASES[alias]["NAME"] = DATABASE
    owner.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keep)
    return old_name


def close_all() -> None:
    from django.db import connections

    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


def fill(events: int, tenants: int, per_aggregate: int, waiting: int) -> list[int]:
    """`events` pending events, in one statement per 100,000 (outbox.services.insert_from_cte_sql)."""
    from django.db import connections

    from ballast.outbox.services import NewEvent, insert_from_cte_sql
    from ballast.tenants.services import create_tenant

    tenant_ids = [create_tenant(slug=f"scale-{n}", name=f"Scale {n}").pk for n in range(tenants)]
    template = NewEvent(tenant_id=0, event_type="bench.scale", target_type="thing", target_id="")
    insert, params = insert_from_cte_sql(
        template,
        cte="backlog",
        expressions={"tenant_id": "tenant_id", "event_id": "gen_random_uuid()", "target_id": "target_id"},
    )
    chunk = 100_000
    with connections["system"].cursor() as cursor:
        for start in range(0, events, chunk):
            cursor.execute(
                "WITH backlog AS ("  # noqa: S608 (the outbox's own SQL)
                "  SELECT (%s::bigint[])[1 + g %% %s] AS tenant_id, (g / %s / %s)::text AS target_id"
                "  FROM generate_series(%s, %s - 1) g ORDER BY g"
                f"), event AS ({insert}) SELECT 1",
                [tenant_ids, tenants, tenants, per_aggregate, start, min(events, start + chunk), *params],
            )
        cursor.execute(
            "UPDATE outbox_outboxevent SET attempts = 1, next_attempt_at = now() + interval '1 hour' "
            "WHERE id IN (SELECT min(id) FROM outbox_outboxevent GROUP BY tenant_id, target_id "
            "ORDER BY min(id) LIMIT %s)",
            [waiting],
        )
    with connections["owner"].cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) outbox_outboxevent")
    return tenant_ids


def largest_sort(plan: dict[str, Any]) -> int:
    """The most rows any Sort node of the plan took in (0 without a Sort)."""
    rows = int(plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1)) if plan["Node Type"] == "Sort" else 0
    for child in plan.get("Plans", []):
        rows = max(rows, largest_sort(child))
    return rows


def explain(query: str, limit: int) -> tuple[str, int, float]:
    from django.db import connections

    with connections["system"].cursor() as cursor:
        cursor.execute("SET jit = off")  # as the relay runs its query
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, {"limit": limit})
        document = cursor.fetchone()[0]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query, {"limit": limit})
        text = "\n".join(row[0] for row in cursor.fetchall())
    plan = (document if isinstance(document, list) else json.loads(document))[0]
    return text, largest_sort(plan["Plan"]), float(plan["Execution Time"])


def timed(query: str, limit: int, runs: int) -> tuple[float, int]:
    from django.db import connections

    times, rows = [], 0
    with connections["system"].cursor() as cursor:
        cursor.execute("SET jit = off")
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(query, {"limit": limit})
            rows = len(cursor.fetchall())
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--per-aggregate", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=100, help="aggregates whose head waits for a retry")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the bench database")
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connections

    from ballast.outbox import relay

    old_name = create_database(args.keep)
    limit = settings.OUTBOX_BATCH_SIZE
    try:
        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM outbox_outboxevent WHERE status = 'pending'")
            pending = cursor.fetchone()[0]
        started = time.perf_counter()
        if pending < args.events:
            fill(args.events, args.tenants, args.per_aggregate, args.waiting)
        fill_s = time.perf_counter() - started
        with connections["system"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(DISTINCT tenant_id) FROM outbox_outboxevent WHERE status = 'pending'"
            )
            pending, tenants = cursor.fetchone()
        print(f"backlog: {pending} pending events of {tenants} tenants (filled in {fill_s:.1f} s)")

        plan, sorted_rows, _ = explain(relay._CANDIDATES, limit)
        print(f"\n--- relay candidates, batch {limit} ---\n{plan}")
        new_ms, new_rows = timed(relay._CANDIDATES, limit, args.runs)

        with connections["owner"].cursor() as cursor:
            cursor.execute(PREVIOUS_INDEX)
            cursor.execute("ANALYZE outbox_outboxevent")
        old_plan, old_sorted_rows, _ = explain(PREVIOUS_QUERY, limit)
        print(f"\n--- previous query, batch {limit} ---\n{old_plan}")
        old_ms, old_rows = timed(PREVIOUS_QUERY, limit, max(1, args.runs // 2))
        with connections["owner"].cursor() as cursor:
            cursor.execute("DROP INDEX bench_pending_aggregate")

        relay.hand_off = lambda event: None  # the candidate query, locks and marks only
        batches = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = relay.relay_batch()
            batches.append((time.perf_counter() - started) * 1000)
        batch_ms = statistics.median(batches)
    finally:
        close_all()
        if not args.keep:
            connections["owner"].creation.destroy_test_db(old_name, verbosity=0)

    result = {
        "per_aggregate": args.per_aggregate,
        "waiting_aggregates": args.waiting,
        "pending_events": pending,
        "tenants": tenants,
        "batch": limit,
        "candidates_ms_p50": round(new_ms, 2),
        "candidates_rows": new_rows,
        "candidates_largest_sort_rows": sorted_rows,
        "previous_ms_p50": round(old_ms, 2),
        "previous_rows": old_rows,
        "previous_largest_sort_rows": old_sorted_rows,
        "relay_batch_noop_hand_off_ms_p50": round(batch_ms, 2),
        "relay_batch_delivered": report.delivered,
    }
    print(
        f"\ncandidates: {new_ms:.1f} ms for {new_rows} events (largest sort: {sorted_rows} rows); "
        f"previous query: {old_ms:.1f} ms for {old_rows} (largest sort: {old_sorted_rows} rows); "
        f"relay_batch with a no-op hand-off: {batch_ms:.1f} ms for {report.delivered} events"
    )
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
