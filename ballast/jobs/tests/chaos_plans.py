"""Chaos plans: the faults of the environment, injected into a running stack (used by test_chaos_plans.py and
bench/chaos.py --plan).

A stack is a web process, two workers and a scheduler on a private Postgres cluster (config.tests.pg_servers)
and a private Redis (config.tests.redis_servers), both of which a plan may restart, kill, stop or fail over. A
backlog of diagnostics.chaos jobs is enqueued first, so the workers are draining when the fault comes; a client
posts one more job through the API every POST_INTERVAL seconds from before the fault until after it clears.
Each attempt logs its start and its end (or its failure) to a file outside the database.

Per plan the figures are: jobs, faults, lost (a job enqueued or answered 2xx that did not succeed), run twice at
once (two attempts of a job that overlapped), charged but never started (an attempt counted with no start in
the log: no process is killed in these plans, so there is no excuse), enqueue availability during the fault
(the share of API posts answered 2xx), and recovery (from the fault clearing to the next completed job).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from ballast.jobs.services import NewJob, enqueue_many
from ballast.jobs.tests.chaos import read_log
from ballast.jobs.tests.newer_handlers import NEWER_TYPE
from ballast.jobs.tests.processes import Processes, wait_for
from ballast.tenants.models import Role, Tenant
from ballast.tenants.services import create_user_token
from config.tests.pg_servers import PgServer, django_on, free_port
from config.tests.redis_servers import RedisServer, SentinelSetup

# Clients posting side by side, each one job every POST_INTERVAL seconds at most.
POSTERS = 4
POST_INTERVAL = 0.05
# Recovery targets (seconds from the fault clearing to the next completed job).
RECOVERY_TARGET = 5.0
FAILOVER_RECOVERY_TARGET = 10.0
NEWER_MODULES = "ballast.jobs.tests.newer_handlers"
# The lease of the stack's processes (short, so a fault outlasts it in seconds).
LEASE_SECONDS = 4.0


@dataclass
class Stack:
    """What a plan may act on."""

    pg: PgServer
    redis: RedisServer | None  # the one Redis, or None under Sentinel (then `sentinel`)
    processes: Processes
    url: str
    token: str
    settings: dict[str, str]
    workers: list[Any] = field(default_factory=list)
    replica: PgServer | None = None
    sentinel: SentinelSetup | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    cleanup: ExitStack = field(default_factory=ExitStack)

    @property
    def the_redis(self) -> RedisServer:
        assert self.redis is not None, "this plan runs on Sentinel"
        return self.redis

    def worker(self, name: str, **extra: str) -> Any:
        process = self.processes.worker(name=name, settings={**self.settings, **extra})
        self.workers.append(process)
        return process


@dataclass
class Plan:
    name: str
    inject: Callable[[Stack], None]
    clear: Callable[[Stack], None]
    what: str
    replica: bool = False
    sentinel: bool = False
    # The least the fault lasts (a maintenance step held past the lease must outlast the lease).
    min_hold: float = 0.0
    recovery_target: float = RECOVERY_TARGET
    # Jobs that must be available through the API while the fault lasts (the Redis faults: 100 %).
    availability_target: float | None = None


def _pg_restart(mode: str) -> Callable[[Stack], None]:
    def inject(stack: Stack) -> None:
        stack.pg.stop(mode=mode)

    return inject


def _pg_start(stack: Stack) -> None:
    stack.pg.start()


def _failover(stack: Stack) -> None:
    stack.pg.kill()


def _promote(stack: Stack) -> None:
    assert stack.replica is not None
    stack.replica.promote()
    # This process, too, reads from the promoted standby from now on (until the plan's clean-up).
    stack.cleanup.enter_context(django_on(stack.replica))


def _redis_down(stack: Stack) -> None:
    stack.the_redis.stop()


def _redis_up(stack: Stack) -> None:
    stack.the_redis.start()


def _redis_hang(stack: Stack) -> None:
    stack.the_redis.pause()


def _redis_resume(stack: Stack) -> None:
    stack.the_redis.resume()


def _ddl(stack: Stack) -> None:
    # What AlterField(max_length=...) emits, on the table every claim and acknowledgement reads.
    with stack.pg.superuser() as connection:
        connection.execute("ALTER TABLE jobs_job ALTER COLUMN job_type TYPE varchar(150)")


def _ddl_back(stack: Stack) -> None:
    with stack.pg.superuser() as connection:
        connection.execute("ALTER TABLE jobs_job ALTER COLUMN job_type TYPE varchar(100)")


def _sentinel_primary_killed(stack: Stack) -> None:
    assert stack.sentinel is not None
    stack.sentinel.primary.kill()


def _sentinel_promoted(stack: Stack) -> None:
    """The fault clears once the sentinels name the promoted replica and it takes writes."""
    assert stack.sentinel is not None
    stack.sentinel.wait_for_failover()


def _maintenance_held(stack: Stack) -> None:
    """A VACUUM of the leader's maintenance (outbox.vacuum, on the maintenance-owner queue) waits behind a lock
    that writers do not conflict with (SHARE UPDATE EXCLUSIVE, which VACUUM itself takes)."""
    from ballast.jobs.scheduler.periodic import platform_tenant_id
    from ballast.jobs.services import enqueue
    from ballast.outbox import partitioned_tables as partitions

    table = partitions.IDEMPOTENCY_RECORDS.partition_name(timezone.now().date())
    holder = stack.pg.superuser()
    holder.autocommit = False
    holder.execute(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")
    stack.notes["lock"] = holder
    slot = timezone.now().replace(second=0, microsecond=0)
    with transaction.atomic():
        enqueue(
            tenant=platform_tenant_id(),
            job_type="periodic.outbox.vacuum",
            payload={"task": "outbox.vacuum", "slot": slot.isoformat()},
            idempotency_key=f"chaos:held:{time.time()}",
        )
    wait_for(lambda: _vacuum_waits(stack.pg), timeout=30, what="the VACUUM to wait on the lock")


def _vacuum_waits(pg: PgServer) -> bool:
    rows = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'VACUUM%%' AND wait_event_type = 'Lock'")
    return bool(rows and rows[0][0])


def _maintenance_released(stack: Stack) -> None:
    holder = stack.notes.pop("lock")
    holder.rollback()
    holder.close()


def _newer_web(stack: Stack) -> None:
    """The web already knows NEWER_TYPE (it runs the newer code); the workers do not yet."""
    stack.notes["post_type"] = NEWER_TYPE


def _deploy_workers(stack: Stack) -> None:
    """The fault clears once a worker that knows the type is up."""
    stack.worker("worker-newer", JOBS_HANDLER_MODULES=NEWER_MODULES)
    wait_for(lambda: "Listening on" in stack.processes.log("worker-newer"), timeout=60, what="the newer worker")


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in [
        Plan("pg-fast", _pg_restart("fast"), _pg_start, "Postgres stopped (fast) and started again"),
        Plan("pg-immediate", _pg_restart("immediate"), _pg_start, "Postgres stopped (immediate) and started again"),
        Plan(
            "pg-failover",
            _failover,
            _promote,
            "the primary SIGKILLed, the synchronous standby promoted",
            replica=True,
            recovery_target=FAILOVER_RECOVERY_TARGET,
        ),
        Plan("redis-down", _redis_down, _redis_up, "Redis shut down", availability_target=1.0),
        Plan("redis-hang", _redis_hang, _redis_resume, "Redis SIGSTOPped", availability_target=1.0),
        Plan(
            "sentinel-failover",
            _sentinel_primary_killed,
            _sentinel_promoted,
            "the Redis primary SIGKILLed, a replica promoted by the sentinels",
            sentinel=True,
        ),
        Plan("ddl", _ddl, _ddl_back, "ALTER COLUMN job_type TYPE varchar(150) while workers drain"),
        Plan(
            "maintenance-held",
            _maintenance_held,
            _maintenance_released,
            "the leader's VACUUM held behind a lock for longer than the lease",
            min_hold=LEASE_SECONDS * 1.5,
        ),
        Plan(
            "unknown-type",
            _newer_web,
            _deploy_workers,
            "a web that enqueues a type the running workers do not know, then a worker that does",
        ),
    ]
}


@dataclass(frozen=True)
class Post:
    sent: float
    answered: float
    status: int  # 0: no answer (refused, timed out)
    job_id: int | None
    job_type: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.job_id is not None


class Poster(threading.Thread):
    """Posts one job through the API every POST_INTERVAL seconds and records each answer."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.stop = threading.Event()
        self.posts: list[Post] = []

    def run(self) -> None:
        serial = itertools.count()
        while not self.stop.is_set():
            sent = time.time()
            job_type = self.stack.notes.get("post_type", "diagnostics.chaos")
            payload = {"seconds": 0.001} if job_type == "diagnostics.chaos" else {}
            body = json.dumps({"job_type": job_type, "payload": payload}).encode()
            request = urllib.request.Request(  # noqa: S310  (a loopback URL of ours)
                f"{self.stack.url}/api/v1/jobs",
                data=body,
                headers={
                    "Authorization": f"Bearer {self.stack.token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"chaos-{self.name}-{next(serial)}",
                },
                method="POST",
            )
            status, job_id = 0, None
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status, job_id = response.status, json.loads(response.read())["id"]
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            self.posts.append(Post(sent, time.time(), status, job_id, job_type))
            self.stop.wait(max(0.0, POST_INTERVAL - (time.time() - sent)))


@dataclass
class PlanResult:
    plan: str
    jobs: int = 0
    faults: int = 1
    lost: int = 0
    run_twice_at_once: int = 0
    charged_unstarted: int = 0
    posts_during_fault: int = 0
    posts_in_flight_during_fault: int = 0
    availability: float = 1.0
    recovery_s: float | None = None
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "jobs": self.jobs,
            "faults": self.faults,
            "lost": self.lost,
            "run_twice_at_once": self.run_twice_at_once,
            "charged_unstarted": self.charged_unstarted,
            "posts_during_fault": self.posts_during_fault,
            "enqueue_availability": round(self.availability, 4),
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2),
        }


def redis_env(redis: RedisServer | None, sentinel: SentinelSetup | None) -> dict[str, str]:
    """The processes' Redis settings: one server, or the sentinels (the DSN then names no reachable host)."""
    if sentinel is not None:
        return {
            "REDIS_DSN": "redis://127.0.0.1:1/0",
            "REDIS_SENTINELS": sentinel.sentinels_setting,
            "REDIS_SENTINEL_MASTER": sentinel.master_name,
        }
    assert redis is not None
    return {"REDIS_DSN": redis.url(0)}


def start_stack(
    pg: PgServer,
    processes: Processes,
    tenant: Tenant,
    *,
    log: Path,
    redis: RedisServer | None = None,
    sentinel: SentinelSetup | None = None,
) -> Stack:
    port = free_port()
    token = create_user_token(tenant=tenant, username="chaos-client", role=Role.MEMBER).plaintext
    env = {
        **redis_env(redis, sentinel),
        "JOBS_CHAOS_LOG": str(log),
        "JOBS_LEASE_SECONDS": str(LEASE_SECONDS),
        # The clients post faster than the default rates allow: availability measures faults, not 429s.
        "API_RATE_PER_TOKEN": "",
        "API_RATE_PER_TENANT": "",
    }
    stack = Stack(
        pg=pg,
        redis=redis,
        sentinel=sentinel,
        processes=processes,
        url=f"http://127.0.0.1:{port}",
        token=token,
        settings=env,
    )
    # The web runs the newest code: it knows NEWER_TYPE, which only some plans' workers do.
    processes.start(
        "runserver", f"127.0.0.1:{port}", "--noreload", name="web", JOBS_HANDLER_MODULES=NEWER_MODULES, **env
    )
    processes.scheduler(settings=env)
    stack.worker("worker-0")
    stack.worker("worker-1")
    wait_for(lambda: _answers(stack.url), timeout=60, what="the web process")
    return stack


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def enqueue_backlog(tenant_id: int, count: int) -> list[int]:
    kinds = [0.001] * count
    with transaction.atomic():
        jobs = enqueue_many(tenant=tenant_id, jobs=[NewJob("diagnostics.chaos", {"seconds": s}) for s in kinds])
    return [job.pk for job in jobs]


def run_plan(stack: Stack, plan: Plan, backlog: list[int], *, hold: float, log: Path, timeout: float) -> PlanResult:
    posters = [Poster(stack) for _ in range(POSTERS)]
    for poster in posters:
        poster.start()
    time.sleep(1.0)  # a second of service before the fault
    fault_start = time.time()
    plan.inject(stack)
    time.sleep(max(hold, plan.min_hold))
    plan.clear(stack)
    fault_end = time.time()
    time.sleep(2.0)  # posts go on after the fault clears
    for poster in posters:
        poster.stop.set()
    for poster in posters:
        poster.join(timeout=20)
    posts = [post for poster in posters for post in poster.posts]
    job_ids = backlog + [post.job_id for post in posts if post.ok and post.job_id is not None]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _all_succeeded(job_ids):
        _connections_reset()
        time.sleep(0.5)
    return check(plan, job_ids, posts, log=log, fault=(fault_start, fault_end))


def _connections_reset() -> None:
    for connection in connections.all():
        try:
            connection.close()
        except Exception:  # noqa: S110  (a connection to a server that went away)
            pass


def _all_succeeded(job_ids: list[int]) -> bool:
    try:
        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM jobs_job WHERE id = ANY(%s) AND status <> 'succeeded'", [job_ids])
            row = cursor.fetchone()
    except Exception:
        return False
    return row is not None and row[0] == 0


def check(plan: Plan, job_ids: list[int], posts: list[Post], *, log: Path, fault: tuple[float, float]) -> PlanResult:
    result = PlanResult(plan.name, jobs=len(job_ids))
    by_job = read_log(log)
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT id, status, attempts FROM jobs_job WHERE id = ANY(%s)", [job_ids])
        rows = {job_id: (status, attempts) for job_id, status, attempts in cursor.fetchall()}
    for job_id in job_ids:
        status, charged = rows.get(job_id, ("missing", 0))
        executions = by_job.get(job_id, [])
        if status != "succeeded":
            result.lost += 1
            result.problems.append(f"job {job_id} ended {status}")
        started = {execution.attempt for execution in executions}
        unstarted = [number for number in range(1, charged + 1) if number not in started]
        if unstarted:
            result.charged_unstarted += len(unstarted)
            result.problems.append(f"job {job_id} was charged attempts {unstarted} it never started")
        for earlier, later in itertools.combinations(executions, 2):
            if earlier.end is None or later.start < earlier.end:
                result.run_twice_at_once += 1
                result.problems.append(f"job {job_id} attempts {earlier.attempt} and {later.attempt} overlapped")
    during = [post for post in posts if fault[0] <= post.sent <= fault[1]]
    # Sent during the fault, or sent before it and still waiting for an answer when it began.
    result.posts_in_flight_during_fault = sum(
        1 for post in posts if post.sent <= fault[1] and post.answered >= fault[0]
    )
    result.posts_during_fault = len(during)
    result.availability = sum(post.ok for post in during) / len(during) if during else 1.0
    # Recovery: the next completed job after the fault clears (for a newer type, the next job of that type).
    newer = {post.job_id for post in posts if post.job_type == NEWER_TYPE}
    ends = sorted(
        e.end
        for job_id, executions in by_job.items()
        if not newer or job_id in newer
        for e in executions
        if e.end and e.end >= fault[1]
    )
    result.recovery_s = ends[0] - fault[1] if ends else None
    if result.recovery_s is None or result.recovery_s > plan.recovery_target:
        result.problems.append(f"recovery {result.recovery_s} s, over its target of {plan.recovery_target} s")
    if plan.availability_target is not None and result.availability < plan.availability_target:
        result.problems.append(
            f"enqueue availability {result.availability:.1%} during the fault, under {plan.availability_target:.0%}"
        )
    return result
