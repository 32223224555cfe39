"""Workers, the scheduler and the web heal by themselves from a Postgres restart, on a private cluster
(config.tests.pg_servers) that the test restarts: no process is restarted, no job is lost or run twice."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections, transaction

from ballast.jobs.job_handlers import CHAOS_STEPS
from ballast.jobs.services import NewJob, enqueue_many
from ballast.jobs.tests.chaos import checkpoint_steps, enqueue_mix, read_log
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.tenants.models import Role
from ballast.tenants.services import create_user_token
from ballast.tenants.tests.factories import TenantFactory
from config.tests.pg_servers import PgServer, django_on, free_port, reset_connections


@pytest.fixture
def fault_processes(private_pg: PgServer, tmp_path: Path) -> Processes:
    return Processes(tmp_path, dsns=private_pg.dsns())


def _start_workers(processes: Processes, count: int = 2, **settings: str) -> list[subprocess.Popen[bytes]]:
    started = [processes.scheduler(settings=settings)]
    names = [f"worker-{index}" for index in range(count)]
    started += [processes.worker("default", name=name, settings=settings) for name in names]
    wait_for(lambda: all("Listening on" in processes.log(name) for name in names), timeout=60, what="workers up")
    return started


def _enqueue(tenant_id: int, count: int) -> list[int]:
    with transaction.atomic():
        jobs = enqueue_many(tenant=tenant_id, jobs=[NewJob("diagnostics.echo", {"value": n}) for n in range(count)])
    return [job.pk for job in jobs]


def _succeeded(job_ids: list[int]) -> int:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_job WHERE id = ANY(%s) AND status = 'succeeded'", [job_ids])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _alive(started: list[subprocess.Popen[bytes]]) -> bool:
    return all(process.poll() is None for process in started)


@pytest.mark.timeout(180)
def test_after_a_fast_restart_idle_workers_and_the_scheduler_run_new_jobs_within_seconds(
    private_pg: PgServer, fault_processes: Processes, redis: object
) -> None:
    tenant = TenantFactory.create(slug="acme")
    try:
        started = _start_workers(fault_processes)
        warm = _enqueue(tenant.pk, 4)  # every process's pool now holds connections
        wait_for(lambda: _succeeded(warm) == 4, timeout=60, what="warm-up jobs")

        private_pg.restart("fast")
        reset_connections()  # this test process's own pool: only the workers' healing is under test here
        job_ids = _enqueue(tenant.pk, 50)

        wait_for(lambda: _succeeded(job_ids) >= 1, timeout=20, what="a first job after the restart")
        print(f"\nfast restart -> next completed job: {time.monotonic() - private_pg.restarted_at:.2f} s")
        wait_for(lambda: _succeeded(job_ids) == 50, timeout=20, what="all 50 jobs after the restart")
        assert _alive(started)  # healed without restarting any process
    finally:
        fault_processes.stop_all()


def _exactly_once_problems(job_ids: list[int], slow_ids: list[int], log: Path) -> list[str]:
    problems = []
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT j.id, j.status, count(a.id) FILTER (WHERE a.outcome = 'succeeded') FROM jobs_job j "
            "LEFT JOIN jobs_jobattempt a ON a.job_id = j.id WHERE j.id = ANY(%s) GROUP BY 1, 2",
            [job_ids],
        )
        rows = {job_id: (status, successes) for job_id, status, successes in cursor.fetchall()}
    steps = checkpoint_steps()
    executions = read_log(log)
    for job_id in job_ids:
        status, successes = rows[job_id]
        if status != "succeeded" or successes != 1:
            problems.append(f"job {job_id} ended {status} with {successes} successful attempts")
        for earlier, later in itertools.pairwise(executions.get(job_id, [])):
            if earlier.end is None or later.start < earlier.end:
                problems.append(f"job {job_id} attempts {earlier.attempt} and {later.attempt} overlapped")
        if job_id in slow_ids and steps.get(job_id) != {step: 1 for step in range(1, CHAOS_STEPS + 1)}:
            problems.append(f"job {job_id}: checkpointed work {steps.get(job_id)} is not each step once")
    return problems


@pytest.mark.timeout(240)
def test_an_immediate_restart_while_workers_drain_a_backlog_runs_every_job_to_success_exactly_once(
    private_pg: PgServer, fault_processes: Processes, redis: object, tmp_path: Path, settings
) -> None:
    log = tmp_path / "executions.log"
    settings.JOBS_CHAOS_LOG = str(log)  # enables diagnostics.chaos here, for enqueue's validation
    tenant = TenantFactory.create(slug="acme")
    run = enqueue_mix(tenant.pk, fast=300, medium=60, slow=3)
    try:
        started = _start_workers(fault_processes, JOBS_CHAOS_LOG=str(log))
        wait_for(lambda: _succeeded(run.job_ids) >= 40, timeout=60, what="the drain to start")
        before = _succeeded(run.job_ids)
        assert before < len(run.job_ids) - 100  # still draining

        private_pg.restart("immediate")
        reset_connections()

        wait_for(lambda: _succeeded(run.job_ids) > before, timeout=20, what="a job after the restart")
        print(f"\nimmediate restart -> next completed job: {time.monotonic() - private_pg.restarted_at:.2f} s")
        wait_for(lambda: _succeeded(run.job_ids) == len(run.job_ids), timeout=90, what="every job")
        assert _alive(started)
    finally:
        fault_processes.stop_all()
    problems = _exactly_once_problems(run.job_ids, run.slow_ids, log)
    assert not problems, "; ".join(problems[:20])


def _get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.timeout(180)
def test_the_web_answers_503_while_postgres_is_down_and_no_500_once_it_is_back(
    private_pg: PgServer, fault_processes: Processes, redis: object
) -> None:
    tenant = TenantFactory.create(slug="acme")
    token = create_user_token(tenant=tenant, username="acme-member", role=Role.MEMBER).plaintext
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/jobs"
    try:
        fault_processes.start(
            "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks", name="web", POSTGRES_POOL_TIMEOUT="2"
        )
        wait_for(lambda: "Quit the server" in fault_processes.log("web"), timeout=60, what="the web up")
        for _ in range(5):
            assert _get(url, token)[0] == 200  # the pool holds connections

        private_pg.restart("fast")
        assert [_get(url, token)[0] for _ in range(20)] == [200] * 20

        private_pg.stop("fast")
        status, headers, body = _get(url, token)
        assert status == 503, body[:300]
        assert headers.get("Content-Type") == "application/problem+json"
        assert json.loads(body)["status"] == 503 and int(headers["Retry-After"]) > 0

        private_pg.start()
        statuses = [_get(url, token)[0] for _ in range(20)]
        assert statuses == [200] * 20
    finally:
        fault_processes.stop_all()


@pytest.mark.timeout(240)
def test_after_a_failover_every_process_finds_the_promoted_replica_and_no_committed_job_is_lost(
    private_pg: PgServer, redis: object, tmp_path: Path, settings
) -> None:
    replica = private_pg.replica()  # synchronous: what the primary committed, the replica has
    processes = Processes(tmp_path, dsns=private_pg.dsns(hosts=[replica]))
    log = tmp_path / "executions.log"
    settings.JOBS_CHAOS_LOG = str(log)
    tenant = TenantFactory.create(slug="acme")
    run = enqueue_mix(tenant.pk, fast=100, medium=200, slow=0)
    try:
        started = _start_workers(processes, JOBS_CHAOS_LOG=str(log))
        wait_for(lambda: _succeeded(run.job_ids) >= 20, timeout=60, what="the drain to start")

        private_pg.kill()
        replica.promote()
        with django_on(replica):
            before = _succeeded(run.job_ids)
            assert before < len(run.job_ids)  # failed over mid-drain
            wait_for(lambda: _succeeded(run.job_ids) > before, timeout=30, what="a job on the new primary")
            print(f"\npromotion -> next completed job: {time.monotonic() - replica.restarted_at:.2f} s")
            more = _enqueue(tenant.pk, 20)  # and new work is taken too
            every = run.job_ids + more
            wait_for(lambda: _succeeded(every) == len(every), timeout=90, what="every job on the new primary")
            assert _alive(started)
            processes.stop_all()
            problems = _exactly_once_problems(run.job_ids, [], log)
    finally:
        processes.stop_all()
    assert not problems, "; ".join(problems[:20])


def test_a_job_whose_connection_dies_between_its_claim_and_its_start_goes_back_uncharged(
    private_pg: PgServer, redis: object
) -> None:
    from ballast.jobs.models import Job, JobAttempt
    from ballast.jobs.worker.claim import claim_next
    from ballast.jobs.worker.run import RELEASED, run_job_and_claim

    tenant = TenantFactory.create(slug="acme")
    (job_id,) = _enqueue(tenant.pk, 1)
    claimed = claim_next(queue="default", tenant_id=tenant.pk, worker="test:1")
    assert claimed is not None and claimed.id == job_id
    connections["default"].ensure_connection()  # the worker's connection, held from its claim to the start
    # What a Postgres restart does to that connection, and to every other of the app role.
    private_pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'ballast_app'")

    outcome, _ = run_job_and_claim(claimed, worker="test:1")

    assert outcome == RELEASED
    job = Job.objects.unscoped().get(pk=job_id)
    assert (job.status, job.attempts) == ("queued", 0)  # no attempt charged to a job that never started
    assert not JobAttempt.objects.unscoped().filter(job_id=job_id).exists()


def test_a_job_claimed_before_an_outage_longer_than_its_lease_goes_back_uncharged_once_postgres_returns(
    private_pg: PgServer, redis: object, settings
) -> None:
    """The worker keeps trying to give the job back while Postgres is away (here 5 s: past the job's 1 s lease,
    and past a few tries that each wait the pool's timeout): an attempt it never started is not charged."""
    import threading

    from ballast.jobs.models import Job, JobAttempt
    from ballast.jobs.worker.claim import claim_next
    from ballast.jobs.worker.run import RELEASED, run_job_and_claim

    settings.JOBS_LEASE_SECONDS = 1
    tenant = TenantFactory.create(slug="acme")
    (job_id,) = _enqueue(tenant.pk, 1)
    claimed = claim_next(queue="default", tenant_id=tenant.pk, worker="test:1")
    assert claimed is not None and claimed.id == job_id
    connections["default"].ensure_connection()
    with _pool_timeout(0.5):
        private_pg.stop(mode="immediate")
        back = threading.Timer(5.0, private_pg.start)
        back.start()
        try:
            outcome, _ = run_job_and_claim(claimed, worker="test:1")
        finally:
            back.join()

    assert outcome == RELEASED
    job = Job.objects.unscoped().get(pk=job_id)
    assert (job.status, job.attempts) == ("queued", 0)
    assert not JobAttempt.objects.unscoped().filter(job_id=job_id).exists()


@contextmanager
def _pool_timeout(seconds: float) -> Iterator[None]:
    """The pools of this process give up on a connection after `seconds` (POSTGRES_POOL_TIMEOUT)."""
    saved = {alias: connections[alias].settings_dict["OPTIONS"]["pool"]["timeout"] for alias in ("default", "system")}
    reset_connections()
    for alias in saved:
        connections[alias].settings_dict["OPTIONS"]["pool"]["timeout"] = seconds
    try:
        yield
    finally:
        reset_connections()
        for alias, timeout in saved.items():
            connections[alias].settings_dict["OPTIONS"]["pool"]["timeout"] = timeout


def test_a_pool_connects_again_within_a_second_of_postgres_returning(private_pg: PgServer) -> None:
    """psycopg_pool's own back-off doubles from 1 s: after 4 s down, its next try could come 3 s after the
    server is back. Ballast's pools try every half second (ballast.lib.db_pool)."""
    from django.db import OperationalError

    def query() -> bool:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except OperationalError:
            return False
        finally:
            connections["default"].close()

    with _pool_timeout(0.3):
        assert query()
        private_pg.stop(mode="fast")
        down_until = time.monotonic() + 4.0
        while time.monotonic() < down_until:  # requests keep coming while Postgres is down
            assert not query()
            time.sleep(0.2)
        private_pg.start()
        back_at = time.monotonic()
        while not query():
            time.sleep(0.05)
        reconnected_after = time.monotonic() - back_at

    assert reconnected_after < 1.5, f"the pool connected again {reconnected_after:.1f} s after Postgres returned"
