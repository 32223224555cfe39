"""Quiet and stop a worker from the console, against real rqworker processes: a quiet worker takes no new job
while another does; a stopped worker finishes its running job, starts no other, and exits."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections, transaction
from rq import Worker
from rq.worker import BaseWorker

from ballast.jobs import wakeups
from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.states import JobStatus as S
from ballast.jobs.tests.conftest import processes  # noqa: F401  (fixture)
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.ops.tests.conftest import ConsoleData
from ballast.ops.tests.test_browser import log_in
from ballast.ops.tests.test_console import QUEUE, logged_in
from ballast.tenants.models import OperatorAction, Tenant
from ballast.tenants.tests.factories import TenantFactory
from ballast.uploads.tests.test_browser import chromium, in_browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)


def registered_worker(pid: int) -> BaseWorker:
    """The RQ worker of that process, once it has registered and published the types it knows."""
    found: dict[str, BaseWorker] = {}

    def up() -> bool:
        for worker in Worker.all(connection=wakeups.redis_connection()):
            if worker.pid == pid:
                found["worker"] = worker
        if "worker" not in found:
            return False
        with connections["system"].cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM jobs_workerpresence WHERE identity = %s", [f"{found['worker'].hostname}:{pid}"]
            )
            return cursor.fetchone() is not None

    wait_for(up, timeout=30, what=f"worker {pid} registered")
    return found["worker"]


def worker_row(page: str, name: str) -> str:
    match = re.search(rf'<tr data-worker="[^"]*"[^>]*data-worker-name="{name}">.*?</tr>', page, re.S)
    assert match, f"no row for worker {name}"
    return match[0]


def test_a_quiet_worker_takes_no_new_job_while_another_worker_runs_them_all(
    operator: User,
    tenant: Tenant,
    processes: Processes,  # noqa: F811
) -> None:
    quiet_process = processes.worker("default", name="quiet")
    busy_process = processes.worker("default", name="busy")
    quiet, busy = registered_worker(quiet_process.pid), registered_worker(busy_process.pid)
    client = logged_in(operator)

    response = client.post(QUEUE, {"action": "quiet_worker", "worker": quiet.name})
    assert response.status_code == 302
    # Several tenants, several wake-ups: with one worker busy, an idle worker would take some of them.
    owners = [tenant, *(TenantFactory.create(slug=f"quiet-{index}") for index in range(3))]
    with transaction.atomic():
        ids = [enqueue(tenant=owner, job_type="diagnostics.sleep", payload={"seconds": 0.3}).pk for owner in owners]
    wait_for(
        lambda: Job.objects.unscoped().filter(pk__in=ids, status=S.SUCCEEDED).count() == len(ids),
        timeout=30,
        what="every job run",
    )

    ran_by = set(JobAttempt.objects.unscoped().filter(job_id__in=ids).values_list("worker", flat=True))
    assert ran_by == {f"{busy.hostname}:{busy.pid}"}, processes.log("quiet")
    assert quiet_process.poll() is None  # quiet, not gone
    # What it gave back is not stuck. The busy worker may still hold a spare wake-up (it found nothing to run), so
    # this waits for the list to empty; a message left there would stay until RQ's own cleanup fails it.
    wait_for(
        lambda: wakeups.rq_queue("default").intermediate_queue.get_job_ids() == [],
        timeout=10,
        what="no RQ message left in the intermediate queue",
    )
    row = worker_row(client.get(QUEUE).content.decode(), quiet.name)
    assert "(quiet)" in row and 'value="quiet_worker"' not in row and 'value="stop_worker"' in row
    assert "diagnostics.sleep" in row  # the job types it knows, from its presence
    logged = OperatorAction.objects.using("system").get(action="ops.worker.quiet")
    assert (logged.actor, logged.target_type, logged.target_id) == ("user:operator", "worker", quiet.name)


def test_a_worker_that_is_not_registered_cannot_be_told_anything(operator: User, data: ConsoleData) -> None:
    response = logged_in(operator).post(QUEUE, {"action": "stop_worker", "worker": "no-such-worker"})

    assert response.status_code == 400
    assert "There is no live worker &#x27;no-such-worker&#x27;" in response.content.decode()
    assert not OperatorAction.objects.using("system").filter(action="ops.worker.stop").exists()


def test_an_operator_stops_a_worker_from_the_console_and_it_finishes_its_job_then_exits(
    operator: User,
    data: ConsoleData,
    processes: Processes,  # noqa: F811
    web_server: str,
    chromium: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    process = processes.worker("default", name="stopped")
    worker = registered_worker(process.pid)
    logged_in_page = threading.Event()
    long_job: dict[str, int] = {}

    def steps(page: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_in(page, web_server, "operator", "/admin/ops/queue/")
        logged_in_page.set()
        row = page.locator(f'#workers tr[data-worker-name="{worker.name}"]')
        deadline = time.monotonic() + 30
        while not row.locator(f"span.lease:has-text('job {long_job.get('id', 0)} ')").count():  # it runs the job
            assert time.monotonic() < deadline, "the long job never showed as held by the worker"
            page.reload()
        seen["types"] = row.locator("td.job-types").text_content()
        page.screenshot(path=str(tmp_path / "workers.png"), full_page=True)
        row.locator("button[value=stop_worker]").click()
        page.wait_for_selector("ul.messagelist li.success")
        seen["message"] = page.text_content("ul.messagelist li.success")
        return seen

    with ThreadPoolExecutor(max_workers=1) as pool:
        browsing = pool.submit(in_browser, chromium, steps)
        assert logged_in_page.wait(timeout=60)
        with transaction.atomic():
            running = enqueue(tenant=data.tenant, job_type="diagnostics.sleep", payload={"seconds": 5})
            waiting = enqueue(tenant=data.tenant, job_type="diagnostics.sleep", payload={"seconds": 0.1})
        long_job["id"] = running.pk
        seen = browsing.result(timeout=90)
    process.wait(timeout=20)

    assert "type(s)" in seen["types"]
    assert "stops once its running job is done" in seen["message"]
    assert process.returncode == 0, processes.log("stopped")
    assert Job.objects.unscoped().get(pk=running.pk).status == S.SUCCEEDED
    after = Job.objects.unscoped().get(pk=waiting.pk)
    assert (after.status, after.attempts) == (S.QUEUED, 0)  # not started: left for another worker
    assert OperatorAction.objects.using("system").filter(action="ops.worker.stop", target_id=worker.name).exists()
    assert (tmp_path / "workers.png").stat().st_size > 10_000
