"""Queue names in Redis come from configuration (JOBS_RQ_QUEUE_NAMES): a real worker started with Ballast's names
listens to the configured RQ queues and runs the jobs their wake-ups announce; bad mappings refuse to load."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from rq import Queue, Worker

from ballast.jobs import wakeups
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.ops import selectors
from ballast.settings.rq import rq_queue_names
from ballast.tenants.models import Tenant

pytestmark = pytest.mark.timeout(90)

RENAMED = {"default": "acme-jobs", "email": "acme-mail"}


def test_a_mapping_names_each_queue_in_redis_and_the_rest_keep_their_own_names() -> None:
    assert rq_queue_names({}) == {name: name for name in ("maintenance", "default", "email", "webhooks")}
    assert rq_queue_names(RENAMED) == {
        "maintenance": "maintenance",
        "default": "acme-jobs",
        "email": "acme-mail",
        "webhooks": "webhooks",
    }


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"defualt": "jobs"},
            r"names 'defualt', not a queue of the workers' \(maintenance, default, email, webhooks\)",
        ),
        ({"maintenance-owner": "x"}, r"names 'maintenance-owner', not a queue of the workers'"),
        ({"default": "acme jobs"}, r"gives 'default' the name 'acme jobs': use letters, digits"),
        ({"default": ""}, r"gives 'default' the name '': use letters"),
        ({"default": "jobs", "email": "jobs"}, r"gives two queues the same name 'jobs'"),
        ({"default": "email", "email": "default"}, r"gives a queue another queue's own name: 'default''s \('email'\)"),
    ],
)
def test_a_bad_mapping_refuses_to_load_and_says_what_is_wrong(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        rq_queue_names(mapping)


def test_rqworker_refuses_a_queue_that_is_not_one_of_the_workers() -> None:
    with pytest.raises(CommandError, match=r"No queue 'defualt': the workers' queues are maintenance, default"):
        call_command("rqworker", "defualt", "--burst")


def test_a_worker_listens_to_the_configured_rq_queues_and_runs_their_jobs(
    tenant: Tenant, processes: Processes, settings: Any
) -> None:
    settings.JOBS_RQ_QUEUE_NAMES = {**settings.JOBS_RQ_QUEUE_NAMES, **RENAMED}
    redis = wakeups.redis_connection()
    with transaction.atomic():
        job = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": 7})
    wakeups.flush()
    # The wake-up waits in the RQ queue of the configured name; nothing is pushed under Ballast's own name.
    assert Queue("acme-jobs", connection=redis).count == 1
    assert not redis.exists(Queue("default", connection=redis).key)

    process = processes.worker(settings={"JOBS_RQ_QUEUE_NAMES": "default=acme-jobs,email=acme-mail"})
    wait_for(lambda: job_row(job.pk).status == "succeeded", timeout=30, what="the job run")

    assert job_row(job.pk).result == {"value": 7}
    (worker,) = [worker for worker in Worker.all(connection=redis) if worker.pid == process.pid]
    assert worker.queue_names() == ["maintenance", "acme-jobs", "acme-mail", "webhooks"]
    # The console counts it under Ballast's names.
    counts, reachable = selectors.workers_by_queue()
    assert reachable and (counts["default"], counts["email"]) == (1, 1)
