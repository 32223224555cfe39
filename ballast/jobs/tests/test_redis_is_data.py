"""Redis is data, never code: what Ballast reads back from Redis is never imported, called or unpickled.

Each test plants, under a key prefix Ballast reads, a JSON message naming a function that would create a marker
file, or a pickle whose __reduce__ would, then drives the code that reads that key and checks the marker is
absent. (The throttle keys: api/tests/test_throttling.py; a pickled RQ message: test_rq_messages.py.)"""

from __future__ import annotations

import json
import pickle
import time
import zlib
from pathlib import Path

from django.db import transaction

from ballast.api import idempotency
from ballast.jobs import wakeups
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes
from ballast.ops import idempotency_stats
from ballast.tenants.models import Tenant


class Planted:
    """Unpickling this creates `path`: proof that a pickle read from Redis was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.path}",))


def _plant_message(queue: str, job_id: str, func: str, args: list[object], **fields: str | bytes) -> None:
    """An RQ job hash and its queue entry, as RQ's JSON serializer writes them."""
    rq = wakeups.rq_queue(queue)
    data = json.dumps([func, None, args, {}]).encode()
    mapping: dict[str | bytes, str | bytes] = {
        "data": zlib.compress(data),
        "origin": queue,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "status": "queued",
        "timeout": "60",
        "description": "planted",
    }
    mapping.update(fields)
    rq.connection.hset(f"rq:job:{job_id}", mapping=mapping)  # type: ignore[arg-type]
    rq.connection.rpush(rq.key, job_id)
    rq.connection.sadd("rq:queues", rq.key)


def test_a_worker_refuses_every_rq_message_but_a_wake_up_and_imports_nothing_a_message_names(
    tenant: Tenant, processes: Processes, tmp_path: Path
) -> None:
    markers = {name: tmp_path / name for name in ("function", "success", "failure", "pickled_meta")}
    _plant_message("default", "os-system", "os.system", [f"touch {markers['function']}"])
    wake_up = {"queue": "default", "tenant_id": tenant.pk, "baton": "planted"}
    # A wake-up's function with callbacks naming os.system (RQ would import and call them).
    _plant_message("default", "callbacks", wakeups.RUN_WAKEUP, [wake_up], success_callback_name="os.system")
    _plant_message("default", "failure-callback", wakeups.RUN_WAKEUP, [wake_up], failure_callback_name="os.system")
    # A genuine wake-up whose other fields hold pickles (RQ decodes meta, result and exc_info).
    pickled = pickle.dumps(Planted(markers["pickled_meta"]))
    _plant_message(
        "default", "pickled-fields", wakeups.RUN_WAKEUP, [wake_up], meta=pickled, result=pickled, exc_info=pickled
    )
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 1})

    worker = processes.worker("default", burst=True)
    worker.wait(timeout=60)

    log = processes.log("worker")
    assert worker.returncode == 0, log
    assert not any(marker.exists() for marker in markers.values()), [m.name for m in markers.values() if m.exists()]
    assert job_row(job.pk).status == "succeeded"  # the worker did go through the queue
    redis = wakeups.redis_connection()
    for refused in ("os-system", "callbacks", "failure-callback"):
        assert f"refused RQ message {refused}" in log
        assert not redis.exists(f"rq:job:{refused}")


def test_pickles_under_the_wake_up_and_nudge_keys_are_never_loaded(tenant: Tenant, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Planted(marker))
    redis = wakeups.redis_connection()
    redis.set(wakeups.key("default", tenant.pk), payload)
    redis.rpush(wakeups.nudge_key("default", tenant.pk), payload)
    baton = wakeups.Baton("default", tenant.pk, "ours")

    refreshed = baton.refresh()
    nudged = baton.await_nudge(0.1)
    baton.release()
    woken = wakeups.wake([("default", tenant.pk)])  # the planted key holds the pair: a nudge, no message

    assert (refreshed, nudged, woken) == (False, True, 0)
    assert redis.get(wakeups.key("default", tenant.pk)) == payload  # not ours: neither refreshed nor dropped
    assert not marker.exists()


def test_pickles_under_the_idempotency_statistics_keys_are_never_loaded(tenant: Tenant, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Planted(marker))
    minute = int(time.time() // 60) - 2
    redis = wakeups.redis_connection()
    redis.hset(f"{idempotency_stats.KEY_PREFIX}{minute}", f"{tenant.pk}:{idempotency.EXECUTED}", payload)
    redis.hset(f"{idempotency_stats.KEY_PREFIX}{minute}", f"{tenant.pk}:{idempotency.REPLAYED}", 2)
    redis.set(f"{idempotency_stats.KEY_PREFIX}{minute - 1}", payload)  # not even a hash

    changed = idempotency_stats.flush()

    assert changed == 1  # the one well-formed count; the rest is skipped, not loaded
    assert not marker.exists()
