"""The process's wake-up sender: a commit hands its wake-ups over and returns, whatever Redis is doing."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction

from ballast.jobs import wakeups
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import statuses
from ballast.tenants.models import Tenant
from config.tests.redis_servers import RedisServer


def test_a_commit_never_waits_on_a_hung_redis_and_its_jobs_stay_queued(
    tenant: Tenant, private_redis: RedisServer, settings: Any
) -> None:
    settings.REDIS_REQUEST_TIMEOUT = 1.0  # a commit that waited on Redis would take at least this long
    private_redis.pause()
    try:
        took = []
        ids = []
        for value in range(5):
            began = time.monotonic()
            with transaction.atomic():
                ids.append(enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": value}).pk)
            took.append(time.monotonic() - began)
    finally:
        private_redis.resume()

    assert max(took) < 0.5, took
    assert wakeups.flush(timeout=10)  # the sender got its answer (or its timeout) once Redis answered
    assert statuses(ids) == {"queued": 5}  # Postgres holds them; the scheduler's dispatch wakes what Redis lost


def test_the_wake_ups_of_a_burst_of_commits_all_arrive(tenant: Tenant, redis: object) -> None:
    for value in range(20):
        with transaction.atomic():
            enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": value})

    assert wakeups.flush(timeout=10)
    client = wakeups.redis_connection()
    assert client.exists(wakeups.key("default", tenant.pk))  # one baton for the pair
    assert wakeups.rq_queue("default").count == 1  # and one message, however many commits
