"""Relay lag and the cost of the HTTP idempotency layer, each against a baseline measured in the same run.

    .venv/bin/python bench/outbox_latency.py [--rate 500] [--seconds 10] [--requests 300]

1. Relay: events are emitted at a steady `--rate` per second, each in its own transaction, while a real
   `manage.py jobs_scheduler` process (whose relay thread LISTENs for the commit's NOTIFY) relays them.
   Lag = the relay's delivered_at - the emitting transaction's COMMIT (one machine, one clock).
   Baseline: the bare LISTEN/NOTIFY round trip (COMMIT -> notification received) at the same rate.
2. Idempotency: POST /api/v1/jobs in-process (Django's test client, no network) without a key (baseline),
   with a fresh key each time, and replaying a stored key; p50 of each and the differences.
The last stdout line is `RESULT {json}`. Uses the tenant `bench` and Redis DB 3; cleans up after itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.jobs_throughput import percentile, use_dev_environment  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/3"
CHANNEL = "ballast_bench_baseline"


def setup_django() -> None:
    os.environ["REDIS_DSN"] = REDIS_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    use_dev_environment()
    import django

    django.setup()


def bench_tenant() -> Any:
    from ballast.tenants.selectors import tenant_by_slug
    from ballast.tenants.services import create_tenant

    return tenant_by_slug("bench") or create_tenant(slug="bench", name="Benchmarks")


def clean_up(tenant_id: int) -> None:
    from django.db import connections

    from ballast.tenants.context import tenant_scope

    with tenant_scope(tenant_id, using="owner"), connections["owner"].cursor() as cursor:
        for table in (
            "outbox_outboxevent",
            "outbox_idempotencyrecord",
            "jobs_jobattempt",
            "jobs_job",
            "tenants_auditentry",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608


def paced(rate: float, count: int, action: Any) -> list[float]:
    """Call action(i) `count` times at a steady rate; the commit time each call returns."""
    interval = 1 / rate
    start = time.perf_counter()
    stamps = []
    for index in range(count):
        delay = start + index * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamps.append(action(index))
    return stamps


def notify_baseline(rate: float, count: int) -> list[float]:
    """COMMIT -> notification received, for bare NOTIFYs at the same rate."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["system"]
    params = {
        "host": db["HOST"],
        "port": db["PORT"] or 5432,
        "dbname": db["NAME"],
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    received: dict[int, float] = {}
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    done = threading.Event()

    def listen() -> None:
        while not done.is_set() or len(received) < count:
            for note in listener.notifies(timeout=0.5, stop_after=1):
                received[int(note.payload)] = time.time()
            if done.is_set() and len(received) >= count:
                break

    thread = threading.Thread(target=listen)
    thread.start()
    sender = psycopg.connect(**params, autocommit=False)

    def send(index: int) -> float:
        sender.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(index)])
        sender.commit()
        return time.time()

    committed = paced(rate, count, send)
    done.set()
    thread.join(30)
    listener.close()
    sender.close()
    return [(received[i] - committed[i]) * 1000 for i in range(count) if i in received]


def relay_lag(tenant_id: int, rate: float, count: int) -> list[float]:
    from django.db import connections, transaction

    from ballast.outbox.services import emit

    env = {**os.environ, "REDIS_DSN": REDIS_URL, "PYTHONUNBUFFERED": "1"}
    log = tempfile.NamedTemporaryFile(prefix="ballast-bench-scheduler-", suffix=".log", delete=False)
    scheduler = subprocess.Popen(
        [sys.executable, "manage.py", "jobs_scheduler"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(3)  # leadership and the relay's LISTEN
        ids: list[str] = []

        def emit_one(index: int) -> float:
            with transaction.atomic():
                event = emit(
                    tenant_id=tenant_id,
                    event_type="bench.tick",
                    target_type="tick",
                    target_id=index % 50,
                    payload={"index": index},
                )
            ids.append(str(event.event_id))
            return time.time()

        committed = paced(rate, count, emit_one)
        deadline = time.time() + 60
        while time.time() < deadline:
            with connections["system"].cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM outbox_outboxevent WHERE tenant_id = %s AND status = 'delivered'", [tenant_id]
                )
                if cursor.fetchone()[0] >= count:
                    break
            time.sleep(0.2)
        with connections["system"].cursor() as cursor:
            cursor.execute(
                "SELECT event_id::text, extract(epoch FROM delivered_at) FROM outbox_outboxevent "
                "WHERE tenant_id = %s AND status = 'delivered'",
                [tenant_id],
            )
            delivered = {row[0]: float(row[1]) for row in cursor.fetchall()}
        return [(delivered[event_id] - committed[i]) * 1000 for i, event_id in enumerate(ids) if event_id in delivered]
    finally:
        scheduler.send_signal(signal.SIGTERM)
        try:
            scheduler.wait(15)
        except subprocess.TimeoutExpired:
            scheduler.kill()
        log.close()


def idempotency_cost(tenant: Any, requests: int) -> dict[str, float]:
    from rest_framework.test import APIClient

    from ballast.tenants.models import Role
    from ballast.tenants.services import create_user_token

    token = create_user_token(tenant=tenant, username="bench-api", role=Role.MEMBER).plaintext
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"job_type": "diagnostics.echo", "payload": {"value": 1}}

    def timed(**headers: Any) -> float:
        started = time.perf_counter()
        response = client.post("/api/v1/jobs", body, format="json", **headers)
        assert response.status_code in (200, 201), response.content
        return (time.perf_counter() - started) * 1000

    for index in range(20):  # warm-up: pools, caches
        timed(HTTP_IDEMPOTENCY_KEY=f"warm-{index}")
    plain, fresh, replayed = [], [], []
    for index in range(requests):  # interleaved, so drift hits all three alike
        plain.append(timed())
        fresh.append(timed(HTTP_IDEMPOTENCY_KEY=f"fresh-{index}"))
        replayed.append(timed(HTTP_IDEMPOTENCY_KEY="fresh-0"))
    return {
        "no_key_p50_ms": percentile(plain, 50),
        "fresh_key_p50_ms": percentile(fresh, 50),
        "replay_p50_ms": percentile(replayed, 50),
        # The median of paired differences (each fresh request against the plain one just before it):
        # less sensitive to drift than a difference of medians.
        "added_by_layer_p50_ms": percentile([f - p for f, p in zip(fresh, plain, strict=True)], 50),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    setup_django()
    import django_rq

    tenant = bench_tenant()
    count = int(args.rate * args.seconds)
    clean_up(tenant.pk)
    try:
        baseline = notify_baseline(args.rate, count)
        lag = relay_lag(tenant.pk, args.rate, count)
        api = idempotency_cost(tenant, args.requests)
    finally:
        clean_up(tenant.pk)
        django_rq.get_connection("default").flushdb()
    result = {
        "rate_per_s": args.rate,
        "events": count,
        "relayed": len(lag),
        "relay_lag_p50_ms": round(percentile(lag, 50), 2),
        "relay_lag_p99_ms": round(percentile(lag, 99), 2),
        "notify_baseline_p50_ms": round(percentile(baseline, 50), 2),
        "notify_baseline_p99_ms": round(percentile(baseline, 99), 2),
        **{key: round(value, 2) for key, value in api.items()},
    }
    print(
        f"relay at {args.rate:g} events/s: {len(lag)}/{count} relayed; lag p50 {result['relay_lag_p50_ms']} ms, "
        f"p99 {result['relay_lag_p99_ms']} ms (target p99 < 1000 ms)"
    )
    print(
        f"bare LISTEN/NOTIFY baseline: p50 {result['notify_baseline_p50_ms']} ms, "
        f"p99 {result['notify_baseline_p99_ms']} ms; "
        f"relay/baseline p50 ratio {result['relay_lag_p50_ms'] / max(result['notify_baseline_p50_ms'], 0.01):.1f}"
    )
    print(
        f"POST /api/v1/jobs p50: no key {result['no_key_p50_ms']} ms, fresh key {result['fresh_key_p50_ms']} ms "
        f"(+{result['added_by_layer_p50_ms']} ms, target < 2 ms), replay {result['replay_p50_ms']} ms"
    )
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
