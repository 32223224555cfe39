"""Redis carries JSON only: a pickled message planted in a queue is refused without being loaded."""

from __future__ import annotations

import pickle
import zlib

from ballast.jobs import wakeups
from ballast.jobs.tests.processes import Processes
from ballast.tenants.models import Tenant


class Boom:
    """Unpickling this would run os.system: proof that a pickle was loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch " + MARKER,))


MARKER = ""


def test_a_pickled_message_planted_in_redis_is_refused_without_being_loaded(
    tenant: Tenant, processes: Processes, tmp_path
) -> None:
    global MARKER
    MARKER = str(tmp_path / "pwned")
    queue = wakeups.rq_queue("default")
    job_key = "rq:job:planted"
    # What RQ's default (pickle) serializer would have written: a job hash whose data unpickles our payload.
    queue.connection.hset(
        job_key,
        mapping={
            "data": zlib.compress(pickle.dumps((None, None, (Boom(),), {}))),
            "origin": "default",
            "created_at": "2026-01-01T00:00:00.000000Z",
            "status": "queued",
            "timeout": "60",
        },
    )
    queue.connection.rpush(queue.key, "planted")
    queue.connection.sadd("rq:queues", queue.key)

    worker = processes.worker("default", burst=True, name="worker")
    worker.wait(timeout=60)

    assert not (tmp_path / "pwned").exists()
    assert queue.connection.llen(queue.key) == 0  # taken off the queue, and not run
