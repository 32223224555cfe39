"""Ballast's jobs engine against plain RQ, Procrastinate and a bare SQL loop: throughput, latency and enqueue
cost, in one sitting.

    .venv/bin/python bench/jobs_throughput.py --batch 1|50 [--jobs 2000] [--workers 2] [--repeat 1]
        [--only ballast,rq,procrastinate,procrastinate_fastpoll,sql] [--phases e2e,drain,paced,enqueue,io,history]
        [--rate 100] [--paced-seconds 10] [--bulk-size 1000] [--io-jobs 400] [--io-sleep 0.05] [--history 1000000]
        [--concurrency N] [--no-scheduler] [--db-name ballast_bench] [--keep-db] [--logs DIR] [--profile DIR]
        [--timeout S]

The systems run the same job (its handler's first line records its start, bench/starts.py; in the I/O-bound
phase it then waits `--io-sleep`) with the same total concurrency, `--workers` processes each running one job
at a time, on this machine's Postgres and Redis:
- ballast: `manage.py rqworker default` processes (SimpleWorker), plus `manage.py jobs_scheduler` in the
  e2e and paced phases (the production topology, relay included; `--no-scheduler` leaves it out), on a
  database of its own (`--db-name`, dropped, re-created and migrated as the owner role by this script),
  job type `bench.noop` (bench/job_handlers.py, registered through bench/settings.py). A run starts once the
  scheduler leads and its first maintenance has run. Enqueued inside tenant_scope transactions: enqueue for
  one job, enqueue_many for more.
- ballast_threads (with `--concurrency N` > 1, the I/O-bound phase only): the same workers running N jobs at
  once each, marked as such: its total concurrency is N times the others'.
- rq: `rq worker --worker-class rq.worker.SimpleWorker` processes; Queue.enqueue_many in a pipeline.
- procrastinate: `procrastinate worker --concurrency 1` processes on a database of its own
  (`<db-name>_procrastinate`) at the default fetch polling interval (5 s: it listens for notifications and
  polls as a fallback); procrastinate_fastpoll: the same at 0.05 s. An async task (its fastest path);
  defer / batch_defer.
- sql (the drains and enqueueing only): the physical baseline, bench/sql_loop.py: a bare FOR UPDATE SKIP LOCKED
  claim and a completion, a commit each, on a table of Ballast's database; enqueued with one INSERT per
  transaction (autocommit), in bulk one INSERT of many rows.

`--batch` jobs go in one enqueueing transaction (one pipeline for RQ, one statement for Procrastinate):
1 is what a web request does, 50 a bulk producer. Phases, each with fresh workers on emptied tables:
- e2e: workers running (and warmed up); one client enqueues `--jobs` as fast as it can while they drain.
  jobs/s = jobs / (first enqueue -> the moment this script sees the last one finished).
- drain: `--jobs` enqueued first, then the workers start (the workers alone: no scheduler). jobs/s over
  the window in which every worker process is running: (jobs started after the last worker's first
  start) / (that start -> last finished).
- io: a drain of `--io-jobs` jobs whose handlers each wait `--io-sleep` s (a webhook, an e-mail, an API call).
- history (Ballast alone): e2e with `--history` succeeded jobs of the same tenant, finished over the last day,
  already in jobs_job (vacuumed and analyzed, as autovacuum leaves them), against its e2e on the emptied table:
  the cost of a month's history.
- paced: `--rate` jobs/s for `--paced-seconds`, in transactions of `--batch`; latency = handler start -
  the enqueueing transaction's commit (Ballast: an on_commit callback that runs before the RQ push; RQ:
  the pipeline's return; Procrastinate: defer's return). p50 / p99 / max.
- enqueue: no workers; single-job transactions/s from one client, each system's single-job path outside a
  transaction of the caller's (Ballast: enqueue(), a transaction of its own; RQ: Queue.enqueue; Procrastinate:
  defer; sql: one INSERT), Ballast's also inside tenant_scope as a request enqueues; and bulk jobs/s in chunks
  of `--bulk-size` (Ballast: jobs.services.enqueue_many; RQ: enqueue_many in a pipeline; Procrastinate:
  batch_defer).
"Finished" is each system's own record (Ballast: jobs_job status succeeded; RQ: its finished registry;
Procrastinate: status succeeded; sql: status done), polled more often as the end nears (2-100 ms). Every start
record is checked: a missing one fails the run, a job started twice is reported.

Each run prints its headline figure and the load average before it; each phase of each repeat prints every
system's figure and Ballast's ratio to it. `--repeat K` runs every phase K times (the order of the systems
rotates) and prints median (min-max), then every ratio of Ballast's medians to the others' (for latencies,
theirs over ours: above 1 is better for Ballast either way). The last stdout line is `RESULT {json}`.
Redis: REDIS_DSN (a database of its own: it is flushed). Refuses to run with APP_ENV=prod. Every process it
starts is stopped at the end, on error and on Ctrl-C / SIGTERM; if this script is SIGKILLed, the kernel sends
them SIGTERM (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.starts import START_DIR_ENV, Start, read_starts  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
SETTINGS_MODULE = "bench.settings"
JOB_TYPE = "bench.noop"  # bench.job_handlers.JOB_TYPE, without importing Django before setup
# The history phase's finished jobs: another type, so that no count of the run's own jobs includes them.
HISTORY_JOBS = (
    "INSERT INTO jobs_job (tenant_id, job_type, queue, payload, payload_hash, status, priority, available_at,"
    " attempts, max_attempts, last_error, trace_id, correlation_id, causation_id, traceparent, created_event_id,"
    " locked_by, cancel_requested, created_at, updated_at, started_at, finished_at) "
    "SELECT %s, 'bench.history', 'default', jsonb_build_object('seq', n), md5(n::text), 'succeeded', 0, at, 1, 3,"
    " '', md5(n::text), md5(n::text), '', '', gen_random_uuid(), '', false, at, at, at, at"
    " FROM generate_series(1, %s) n, LATERAL (SELECT now() - interval '1 day' + n * interval '1 day' / %s) t(at)"
)
BALLAST_QUEUE = "default"
RQ_QUEUE = "bench"
SYSTEMS = ("ballast", "ballast_threads", "rq", "procrastinate", "procrastinate_fastpoll", "sql")
DEFAULT_SYSTEMS = ("ballast", "rq", "procrastinate", "procrastinate_fastpoll", "sql")
PHASES = ("e2e", "drain", "paced", "enqueue", "io", "history")
# The systems that take part in only some phases: the bare SQL loop is the physical baseline of the drains and of
# enqueueing (an INSERT a transaction; one INSERT of many rows), and Ballast with threads (--concurrency) is measured
# where it matters, the I/O-bound phase.
ONLY_IN = {"sql": ("drain", "io", "enqueue"), "ballast_threads": ("io",)}
# And the phases only some systems take part in: history measures Ballast against itself (its e2e).
ONLY_FOR = {"history": ("ballast",)}
# Each phase's headline figure, and whether more is better.
HEADLINES = {
    "e2e": ("e2e_jobs_s", True),
    "drain": ("drain_jobs_s", True),
    "paced": ("paced_p50_ms", False),
    "enqueue": ("enqueue_tx_s", True),
    "io": ("io_jobs_s", True),
    "history": ("history_jobs_s", True),
}
POLL_MIN = 0.002
POLL_MAX = 0.1
STOP_TIMEOUT = 15.0
READY_TIMEOUT = 60.0
SINGLE_ENQUEUE_MAX = 1000
SCHEDULER_READY_TIMEOUT = 60.0  # seconds to wait for Ballast's scheduler to lead and finish its first maintenance
PROCRASTINATE_FAST_POLL = 0.05  # seconds: procrastinate_fastpoll's --fetch-job-polling-interval (default 5)


# ---------------------------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class BenchError(RuntimeError):
    """A run went wrong (a job failed, a worker died, a start was not recorded)."""


# Started in front of every child: PR_SET_PDEATHSIG (1) asks the kernel to SIGTERM the child when this
# script dies, even by SIGKILL; it survives the exec. The ppid check closes the race with an early death.
_ORPHAN_GUARD = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclass
class Processes:
    """Subprocesses this script started; each is stopped with SIGTERM, then SIGKILL after a timeout."""

    running: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)  # every log, kept for the failure report

    def start(self, log: Path, argv: list[str], env: dict[str, str]) -> None:
        if sys.platform == "linux":
            argv = [sys.executable, "-c", _ORPHAN_GUARD, str(os.getpid()), *argv]
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - argv is built here, not from input
                argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append((proc, log))
        self.logs.append(log)

    def check_alive(self) -> None:
        for proc, log in self.running:
            if proc.poll() is not None:
                raise BenchError(f"{log} (pid {proc.pid}) exited with {proc.returncode}; log:\n{tail(log)}")

    def stop(self) -> None:
        for proc, _log in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc, _log in self.running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self.running.clear()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        procs.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def wait_finished(system: System, target: int, timeout: float, procs: Processes) -> float:
    """Poll until `target` jobs finished; the time.time() right after the poll that saw it. The interval
    shrinks as the end nears (a quarter of the estimated time left, 2-100 ms)."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        done = system.finished()
        seen = time.time()
        if done >= target:
            return seen
        procs.check_alive()
        elapsed = time.monotonic() - began
        if elapsed > timeout:
            raise BenchError(f"timed out after {timeout:g} s: {done} of {target} {system.name} jobs finished")
        left = (target - done) * elapsed / done if done else POLL_MAX
        time.sleep(min(POLL_MAX, max(POLL_MIN, left / 4), max(0.0, deadline - time.monotonic())))


def redis_client(url: str) -> Any:
    from redis import Redis

    return Redis.from_url(url)


def registered_rq_workers(redis: Any, queue_name: str) -> int:
    from rq import Worker

    return sum(1 for worker in Worker.all(connection=redis) if queue_name in worker.queue_names())


def child_env(args: argparse.Namespace, run_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(args.child_env)
    env[START_DIR_ENV] = str(run_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def profiled(argv: list[str], profile: Path | None) -> list[str]:
    """argv (a python script or `-m module` after sys.executable) under cProfile when `profile` is set."""
    if profile is None:
        return argv
    assert argv[0] == sys.executable
    return [sys.executable, "-m", "cProfile", "-o", str(profile), *argv[1:]]


class NotAvailable(Exception):
    """This system has no such path (printed as n/a)."""


# ---------------------------------------------------------------------------------------------- systems


class System(Protocol):
    name: str

    def reset(self) -> None:
        """Empty queues and tables; no worker of this system is running."""

    def start_workers(self, procs: Processes, run_dir: Path, profile: Path | None, *, scheduler: bool) -> None:
        """Start the worker processes (and, when `scheduler`, whatever else the system runs), without waiting."""

    def ready(self) -> bool:
        """Every worker process is up and listening."""

    def enqueue(self, seqs: Sequence[int], sleep: float = 0.0) -> float:
        """One transaction (pipeline, statement) with these jobs (each handler waits `sleep` seconds); the
        time.time() right after its commit."""

    def enqueue_alone(self, seq: int) -> None:
        """One job by the system's single-job path, outside any transaction of the caller's."""

    def enqueue_bulk(self, seqs: Sequence[int]) -> None:
        """The system's bulk path for many jobs at once; NotAvailable when it has none."""

    def finished(self) -> int:
        """Jobs finished successfully; BenchError when one failed."""

    def checks(self) -> dict[str, float]:
        """Figures from the system's own records after a run (e.g. attempts beyond one per job)."""


class Ballast:
    name = "ballast"

    def __init__(self, args: argparse.Namespace, redis: Any, concurrency: int = 1) -> None:
        self.args = args
        self.redis = redis
        self.concurrency = concurrency
        if concurrency > 1:
            self.name = "ballast_threads"
        self.tenant_id = 0
        self.scheduler_log: Path | None = None
        self.started = 0.0
        self.ready_noted = False

    def reset(self) -> None:
        from django.db import connections

        from ballast.tenants.services import create_tenant

        owner = connections["owner"]
        keep = {"django_migrations", "django_content_type", "auth_permission"}
        tables = [name for name in owner.introspection.table_names() if name not in keep]
        with owner.cursor() as cursor:
            quoted = ", ".join(owner.ops.quote_name(table) for table in tables)
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        self.redis.flushdb()
        self.tenant_id = int(create_tenant(slug="bench", name="Benchmarks").pk)

    def start_workers(self, procs: Processes, run_dir: Path, profile: Path | None, *, scheduler: bool) -> None:
        env = child_env(self.args, run_dir)
        for index in range(self.args.workers):
            argv = [sys.executable, "manage.py", "rqworker", BALLAST_QUEUE, "--name", f"bench-ballast-{index}"]
            if self.concurrency > 1:
                argv += ["--concurrency", str(self.concurrency)]
            procs.start(run_dir / f"ballast-worker{index}.log", profiled(argv, profile if index == 0 else None), env)
        self.scheduler_log = None
        if scheduler:
            procs.start(run_dir / "ballast-scheduler.log", [sys.executable, "manage.py", "jobs_scheduler"], env)
            self.scheduler_log = procs.logs[-1]
        self.started = time.monotonic()

    def ready(self) -> bool:
        if registered_rq_workers(self.redis, BALLAST_QUEUE) < self.args.workers:
            return False
        if self.scheduler_log is None:
            return True
        # The scheduler's first passes (a fresh Redis re-woken, the maintenance slots enqueued and the owner's
        # maintenance run, a VACUUM among it) happen before the measured window, not inside it.
        if time.monotonic() - self.started > SCHEDULER_READY_TIMEOUT:
            if not self.ready_noted:
                print(f"(the scheduler's first maintenance still runs after {SCHEDULER_READY_TIMEOUT:g} s)", end=" ")
                self.ready_noted = True
            return True
        log = self.scheduler_log.read_text(errors="replace")
        return "maintenance enqueuer" in log and self._scheduler_work_pending() == 0

    def _scheduler_work_pending(self) -> int:
        from django.db import connections

        from ballast.jobs.policy import SCHEDULER_QUEUES

        with connections["system"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM jobs_job WHERE queue = ANY(%s) AND status IN ('queued', 'running') "
                "AND available_at <= now()",
                [list(SCHEDULER_QUEUES)],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _payload(seq: int, sleep: float) -> dict[str, Any]:
        return {"seq": seq, "sleep": sleep} if sleep else {"seq": seq}

    def enqueue(self, seqs: Sequence[int], sleep: float = 0.0) -> float:
        from django.db import transaction

        from ballast.jobs.services import NewJob, enqueue, enqueue_many
        from ballast.tenants.context import tenant_scope

        committed: list[float] = []
        with tenant_scope(self.tenant_id):  # a tenant's transaction, as in an API request
            # Registered before enqueue's own after-commit push, so it runs first: right after COMMIT.
            transaction.on_commit(lambda: committed.append(time.time()))
            if len(seqs) == 1:
                enqueue(tenant=self.tenant_id, job_type=JOB_TYPE, payload=self._payload(seqs[0], sleep))
            else:  # a bulk producer's path, as RQ's pipeline and Procrastinate's batch_defer are theirs
                enqueue_many(tenant=self.tenant_id, jobs=[NewJob(JOB_TYPE, self._payload(seq, sleep)) for seq in seqs])
        return committed[0]

    def fill_history(self, rows: int) -> None:
        """`rows` succeeded jobs of the tenant (another type), finished over the last day, then VACUUM (ANALYZE),
        as autovacuum leaves rows that old: their hint bits and visibility map set, their statistics known."""
        from django.db import connections

        with connections["system"].cursor() as cursor:
            cursor.execute(HISTORY_JOBS, [self.tenant_id, rows, rows])
        with connections["owner"].cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) jobs_job")

    def enqueue_alone(self, seq: int) -> None:
        from ballast.jobs.services import enqueue

        enqueue(tenant=self.tenant_id, job_type=JOB_TYPE, payload={"seq": seq})  # a transaction of its own

    def enqueue_bulk(self, seqs: Sequence[int]) -> None:
        from ballast.jobs import services

        services.enqueue_many(tenant=self.tenant_id, jobs=[services.NewJob(JOB_TYPE, {"seq": seq}) for seq in seqs])

    def _statuses(self) -> Counter[str]:
        from django.db import connections

        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT status, count(*) FROM jobs_job WHERE job_type = %s GROUP BY status", [JOB_TYPE])
            return Counter({status: int(count) for status, count in cursor.fetchall()})

    def finished(self) -> int:
        statuses = self._statuses()
        bad = {status: statuses[status] for status in ("failed", "cancelled") if statuses[status]}
        if bad:
            raise BenchError(f"Ballast jobs ended badly: {bad}")
        return statuses["succeeded"]

    def checks(self) -> dict[str, float]:
        from django.db import connections

        with connections["system"].cursor() as cursor:
            cursor.execute("SELECT count(*), coalesce(sum(attempts), 0) FROM jobs_job WHERE job_type = %s", [JOB_TYPE])
            row = cursor.fetchone()
        assert row is not None
        return {"extra_attempts": float(row[1] - row[0])}

    def created(self) -> int:
        return sum(self._statuses().values())


class PlainRQ:
    name = "rq"

    def __init__(self, args: argparse.Namespace, redis: Any) -> None:
        from rq import Queue
        from rq.registry import FailedJobRegistry, FinishedJobRegistry

        self.args = args
        self.redis = redis
        self.queue = Queue(RQ_QUEUE, connection=redis)
        self.finished_key = FinishedJobRegistry(queue=self.queue).key
        self.failed_key = FailedJobRegistry(queue=self.queue).key

    def reset(self) -> None:
        self.redis.flushdb()

    def start_workers(self, procs: Processes, run_dir: Path, profile: Path | None, *, scheduler: bool) -> None:
        env = child_env(self.args, run_dir)
        for index in range(self.args.workers):
            argv = [sys.executable, str(Path(sys.executable).parent / "rq"), "worker"]
            argv += ["--worker-class", "rq.worker.SimpleWorker"]
            argv += ["--url", self.args.redis_url, "--name", f"bench-rq-{index}", RQ_QUEUE]
            procs.start(run_dir / f"rq-worker{index}.log", profiled(argv, profile if index == 0 else None), env)

    def ready(self) -> bool:
        return registered_rq_workers(self.redis, RQ_QUEUE) >= self.args.workers

    def _push(self, seqs: Sequence[int], sleep: float = 0.0) -> None:
        from rq import Queue

        from bench.noop import noop

        # result_ttl left at RQ's default (500 s): results are kept, as in ordinary RQ use.
        datas = [Queue.prepare_data(noop, args=(seq, sleep) if sleep else (seq,)) for seq in seqs]
        with self.redis.pipeline() as pipe:
            self.queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def enqueue(self, seqs: Sequence[int], sleep: float = 0.0) -> float:
        self._push(seqs, sleep)
        return time.time()

    def enqueue_alone(self, seq: int) -> None:
        from bench.noop import noop

        self.queue.enqueue(noop, seq)

    def enqueue_bulk(self, seqs: Sequence[int]) -> None:
        self._push(seqs)

    def finished(self) -> int:
        failed = int(self.redis.zcard(self.failed_key))
        if failed:
            raise BenchError(f"{failed} RQ job(s) failed")
        return int(self.redis.zcard(self.finished_key))

    def checks(self) -> dict[str, float]:
        return {}


class Procrastinate:
    """At its default fetch polling interval (5 s: it listens for Postgres notifications and polls as a fallback),
    or, as `procrastinate_fastpoll`, at PROCRASTINATE_FAST_POLL."""

    name = "procrastinate"

    def __init__(self, args: argparse.Namespace, poll: float | None = None) -> None:
        self.poll = poll
        if poll is not None:
            self.name = "procrastinate_fastpoll"
        import psycopg

        from bench import procrastinate_app

        # Its INFO line per deferred job would be formatted and printed by this producer: RQ and Ballast
        # log nothing per enqueue.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        self.args = args
        self.app = procrastinate_app.app
        self.task = procrastinate_app.noop
        self.app.open()
        self.conn = psycopg.connect(args.procrastinate_dsn, autocommit=True)

    def apply_schema(self) -> None:
        self.app.schema_manager.apply_schema()

    def close(self) -> None:
        self.conn.close()
        self.app.close()

    def reset(self) -> None:
        self.conn.execute(
            "TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
            "procrastinate_workers RESTART IDENTITY CASCADE"
        )

    def start_workers(self, procs: Processes, run_dir: Path, profile: Path | None, *, scheduler: bool) -> None:
        from bench.procrastinate_app import DSN_ENV, QUEUE

        env = child_env(self.args, run_dir, **{DSN_ENV: self.args.procrastinate_dsn})
        for index in range(self.args.workers):
            argv = [sys.executable, "-m", "procrastinate", "--app", "bench.procrastinate_app.app", "worker"]
            argv += ["--concurrency", "1", "--queues", QUEUE, "--name", f"bench-{self.name}-{index}"]
            if self.poll is not None:
                argv += ["--fetch-job-polling-interval", str(self.poll)]
            log = run_dir / f"procrastinate-worker{index}.log"
            procs.start(log, profiled(argv, profile if index == 0 else None), env)

    def ready(self) -> bool:
        row = self.conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        return bool(row and row[0] >= self.args.workers)

    def enqueue(self, seqs: Sequence[int], sleep: float = 0.0) -> float:
        if len(seqs) == 1:
            self.task.defer(**self._kwargs(seqs, sleep)[0])
        else:
            self.task.batch_defer(*self._kwargs(seqs, sleep))
        return time.time()

    def enqueue_alone(self, seq: int) -> None:
        self.task.defer(seq=seq)

    def enqueue_bulk(self, seqs: Sequence[int]) -> None:
        self.task.batch_defer(*self._kwargs(seqs))

    @staticmethod
    def _kwargs(seqs: Sequence[int], sleep: float = 0.0) -> list[dict[str, Any]]:
        return [{"seq": seq, "sleep": sleep} if sleep else {"seq": seq} for seq in seqs]

    def finished(self) -> int:
        rows = self.conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status").fetchall()
        statuses = Counter({status: int(count) for status, count in rows})
        bad = {status: statuses[status] for status in ("failed", "aborted", "cancelled") if statuses[status]}
        if bad:
            raise BenchError(f"Procrastinate jobs ended badly: {bad}")
        return statuses["succeeded"]

    def checks(self) -> dict[str, float]:
        row = self.conn.execute("SELECT count(*), coalesce(sum(attempts), 0) FROM procrastinate_jobs").fetchone()
        assert row is not None
        return {"extra_attempts": float(row[1] - row[0])}


class SqlLoop:
    """The physical baseline (bench/sql_loop.py): `--workers` processes claiming with FOR UPDATE SKIP LOCKED
    and completing, a commit each, on a table of Ballast's benchmark database; the drains and enqueueing."""

    name = "sql"

    def __init__(self, args: argparse.Namespace) -> None:
        import psycopg

        from bench.sql_loop import SCHEMA

        self.args = args
        self.conn = psycopg.connect(args.sql_dsn, autocommit=True)
        self.conn.execute(SCHEMA)
        self.logs: list[Path] = []

    def close(self) -> None:
        self.conn.close()

    def reset(self) -> None:
        self.conn.execute("TRUNCATE bench_sql_job RESTART IDENTITY")

    def start_workers(self, procs: Processes, run_dir: Path, profile: Path | None, *, scheduler: bool) -> None:
        env = child_env(self.args, run_dir)
        self.logs = []
        for index in range(self.args.workers):
            argv = [sys.executable, str(REPO_ROOT / "bench" / "sql_loop.py"), self.args.sql_dsn, f"sql-{index}"]
            procs.start(run_dir / f"sql-worker{index}.log", argv, env)
            self.logs.append(procs.logs[-1])

    def ready(self) -> bool:
        return all("ready" in log.read_text(errors="replace") for log in self.logs)

    def enqueue(self, seqs: Sequence[int], sleep: float = 0.0) -> float:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_sql_job (seq, sleep) SELECT s, %s FROM unnest(%s::int[]) AS s", [sleep, list(seqs)]
            )
        return time.time()

    def enqueue_alone(self, seq: int) -> None:
        self.enqueue([seq])

    def enqueue_bulk(self, seqs: Sequence[int]) -> None:
        self.enqueue(seqs)

    def finished(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM bench_sql_job WHERE status = 'done'").fetchone()
        return int(row[0]) if row else 0

    def checks(self) -> dict[str, float]:
        return {}


# ---------------------------------------------------------------------------------------------- phases


@dataclass
class Context:
    args: argparse.Namespace
    procs: Processes
    workdir: Path
    runs: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def run_dir(self, system: System, phase: str) -> Path:
        self.runs += 1
        path = self.workdir / f"{self.runs:03d}-{system.name}-{phase}"
        path.mkdir()
        return path


def batches(seqs: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for first in range(0, len(seqs), size):
        yield seqs[first : first + size]


def warm_up(ctx: Context, system: System) -> int:
    """Wait for every worker to be up, then run a few jobs (negative seqs) so first-job costs (imports,
    connections) stay out of the figures. Returns how many jobs that was."""
    wait_until(system.ready, READY_TIMEOUT, f"{system.name} workers", ctx.procs)
    count = 2 * ctx.args.workers
    for seq in range(-count, 0):
        system.enqueue([seq])
    wait_finished(system, count, ctx.args.timeout, ctx.procs)
    return count


def starts_of(run_dir: Path, jobs: int) -> tuple[list[Start], dict[int, float], int]:
    """The runs' start records (warm-up jobs left out), the first start of each seq, and the number of
    jobs that started more than once. BenchError when a job has no start record."""
    starts = [start for start in read_starts(run_dir) if start.seq >= 0]
    first: dict[int, float] = {}
    for start in starts:
        first[start.seq] = min(start.at, first.get(start.seq, start.at))
    missing = jobs - len(first)
    if missing:
        raise BenchError(f"{missing} of {jobs} jobs finished without a start record in {run_dir}")
    return starts, first, len(starts) - len(first)


def finish_run(ctx: Context, system: System) -> dict[str, float]:
    ctx.procs.stop()
    return system.checks()


def phase_e2e(ctx: Context, system: System) -> dict[str, float]:
    system.reset()
    return _e2e(ctx, system, "e2e")


def phase_history(ctx: Context, system: System) -> dict[str, float]:
    """e2e with `--history` finished jobs of the tenant already in jobs_job, as a month of work leaves them."""
    assert isinstance(system, Ballast)
    system.reset()
    system.fill_history(ctx.args.history)
    return _e2e(ctx, system, "history")


def _e2e(ctx: Context, system: System, phase: str) -> dict[str, float]:
    args = ctx.args
    run_dir = ctx.run_dir(system, phase)
    profile = args.profile / f"{system.name}-worker0.prof" if args.profile else None
    system.start_workers(ctx.procs, run_dir, profile, scheduler=args.scheduler)
    warm = warm_up(ctx, system)
    profiler = _profiler(args.profile)
    began = time.time()
    for seqs in batches(range(args.jobs), args.batch):
        system.enqueue(seqs)
    enqueued = time.time()
    _dump_profile(profiler, args.profile, f"{system.name}-enqueue.prof")
    ended = wait_finished(system, warm + args.jobs, args.timeout, ctx.procs)
    checks = finish_run(ctx, system)
    _starts, _first, repeated = starts_of(run_dir, args.jobs)
    return {
        f"{phase}_jobs_s": args.jobs / (ended - began),
        f"{phase}_enqueue_s": enqueued - began,
        f"{phase}_seconds": ended - began,
        f"{phase}_started_twice": float(repeated),
        **{f"{phase}_{key}": value for key, value in checks.items()},
    }


def phase_drain(ctx: Context, system: System) -> dict[str, float]:
    return _drain(ctx, system, "drain", ctx.args.jobs, 0.0)


def phase_io(ctx: Context, system: System) -> dict[str, float]:
    """A drain of jobs whose handlers each wait `--io-sleep` (a webhook, an e-mail, an API call)."""
    return _drain(ctx, system, "io", ctx.args.io_jobs, ctx.args.io_sleep)


def _drain(ctx: Context, system: System, phase: str, jobs: int, sleep: float) -> dict[str, float]:
    args = ctx.args
    system.reset()
    for seqs in batches(range(jobs), max(args.batch, 50)):
        system.enqueue(seqs, sleep)
    run_dir = ctx.run_dir(system, phase)
    system.start_workers(ctx.procs, run_dir, None, scheduler=False)  # the workers alone
    ended = wait_finished(system, jobs, args.timeout, ctx.procs)
    checks = finish_run(ctx, system)
    starts, first, repeated = starts_of(run_dir, jobs)
    first_of_process: dict[str, float] = {}
    for start in starts:
        first_of_process[start.process] = min(start.at, first_of_process.get(start.process, start.at))
    # From the moment the last worker process started its first job: all workers busy, none starting.
    all_running = max(first_of_process.values())
    after = sum(1 for at in first.values() if at >= all_running)
    return {
        f"{phase}_jobs_s": after / (ended - all_running) if ended > all_running else math.nan,
        f"{phase}_all_jobs_s": jobs / (ended - min(first.values())),
        f"{phase}_processes_that_ran_jobs": float(len(first_of_process)),
        f"{phase}_started_twice": float(repeated),
        **{f"{phase}_{key}": value for key, value in checks.items()},
    }


def phase_paced(ctx: Context, system: System) -> dict[str, float]:
    args = ctx.args
    system.reset()
    run_dir = ctx.run_dir(system, "paced")
    system.start_workers(ctx.procs, run_dir, None, scheduler=args.scheduler)
    warm = warm_up(ctx, system)
    total = max(args.batch, round(args.rate * args.paced_seconds))
    committed: dict[int, float] = {}
    interval = args.batch / args.rate
    began = time.perf_counter()
    began_wall = time.time()
    for index, seqs in enumerate(batches(range(total), args.batch)):
        delay = began + index * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        at = system.enqueue(seqs)
        committed.update((seq, at) for seq in seqs)
    # From the first enqueue to the end of the last batch's slot: `--rate` when the producer kept up.
    produced = time.time() - began_wall + interval
    wait_finished(system, warm + total, args.timeout, ctx.procs)
    checks = finish_run(ctx, system)
    _starts, first, repeated = starts_of(run_dir, total)
    latencies = [(first[seq] - committed[seq]) * 1000 for seq in range(total)]
    return {
        "paced_p50_ms": percentile(latencies, 50),
        "paced_p99_ms": percentile(latencies, 99),
        "paced_max_ms": max(latencies),
        "paced_rate": total / produced,
        "paced_started_twice": float(repeated),
        **{f"paced_{key}": value for key, value in checks.items()},
    }


def phase_enqueue(ctx: Context, system: System) -> dict[str, float]:
    args = ctx.args
    system.reset()
    single = min(args.jobs, SINGLE_ENQUEUE_MAX)
    began = time.perf_counter()
    for seq in range(single):
        system.enqueue_alone(seq)
    result = {"enqueue_tx_s": single / (time.perf_counter() - began)}
    if isinstance(system, Ballast):  # and as a request does it: inside the tenant's transaction
        system.reset()
        began = time.perf_counter()
        for seq in range(single):
            system.enqueue([seq])
        result["enqueue_scoped_tx_s"] = single / (time.perf_counter() - began)
    system.reset()
    began = time.perf_counter()
    try:
        for seqs in batches(range(args.jobs), args.bulk_size):
            system.enqueue_bulk(seqs)
    except NotAvailable as exc:
        result["bulk_jobs_s"] = math.nan
        ctx.note(f"{system.name} bulk enqueue: n/a ({exc})")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # enqueue_many's signature is the jobs engine's to define: a mismatch is reported, not fatal.
        result["bulk_jobs_s"] = math.nan
        ctx.note(f"{system.name} bulk enqueue failed, adapt Ballast.enqueue_bulk: {exc!r}")
    else:
        result["bulk_jobs_s"] = args.jobs / (time.perf_counter() - began)
        if isinstance(system, Ballast) and system.created() != args.jobs:
            raise BenchError(f"enqueue_many created {system.created()} jobs, not {args.jobs}")
    system.reset()
    return result


PHASE_RUNNERS: dict[str, Callable[[Context, System], dict[str, float]]] = {
    "e2e": phase_e2e,
    "drain": phase_drain,
    "paced": phase_paced,
    "enqueue": phase_enqueue,
    "io": phase_io,
    "history": phase_history,
}


def _profiler(profile_dir: Path | None) -> Any:
    if profile_dir is None:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _dump_profile(profiler: Any, profile_dir: Path | None, name: str) -> None:
    if profiler is not None and profile_dir is not None:
        profiler.disable()
        profiler.dump_stats(str(profile_dir / name))


# ---------------------------------------------------------------------------------------------- databases


def _dsn(db: dict[str, Any], name: str) -> str:
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def point_django_at(name: str) -> dict[str, str]:
    """Point this process's aliases at database `name` (before any connection); the workers' DSNs."""
    from django.conf import settings
    from django.db import connections

    variables = {"default": "POSTGRES_DSN", "system": "POSTGRES_SYSTEM_DSN", "owner": "POSTGRES_OWNER_DSN"}
    env = {}
    for alias, variable in variables.items():
        env[variable] = _dsn(settings.DATABASES[alias], name)
        settings.DATABASES[alias]["NAME"] = name
        connections[alias].settings_dict["NAME"] = name
    return env


def recreate_database(owner: dict[str, Any], name: str) -> None:
    """Drop and create `name` as the owner role; refuses when another session uses it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_dsn(owner, "postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone()
        if row and row[0]:
            raise BenchError(f"database {name} has {row[0]} open session(s), another benchmark? Use --db-name")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(owner: dict[str, Any], name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_dsn(owner, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def close_django_connections() -> None:
    from django.db import connections

    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


def migrate(args: argparse.Namespace, logdir: Path) -> None:
    log = logdir / "migrate.log"
    env = {**os.environ, **args.child_env, "PYTHONPATH": str(REPO_ROOT)}
    with log.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, stdout=out, stderr=out
        )
    if done.returncode:
        raise BenchError(f"manage.py migrate failed:\n{tail(log)}")


# ---------------------------------------------------------------------------------------------- report

ROWS = (
    ("e2e_jobs_s", "end-to-end jobs/s", "{:.1f}"),
    ("history_jobs_s", "end-to-end, with history, jobs/s", "{:.1f}"),
    ("drain_jobs_s", "drain jobs/s (workers alone)", "{:.1f}"),
    ("io_jobs_s", "I/O-bound drain jobs/s", "{:.1f}"),
    ("paced_p50_ms", "paced commit->start p50 ms", "{:.1f}"),
    ("paced_p99_ms", "paced commit->start p99 ms", "{:.1f}"),
    ("paced_max_ms", "paced commit->start max ms", "{:.1f}"),
    ("enqueue_tx_s", "enqueue alone, 1-job tx/s", "{:.0f}"),
    ("enqueue_scoped_tx_s", "enqueue in tenant_scope, 1-job tx/s", "{:.0f}"),
    ("bulk_jobs_s", "enqueue alone, bulk jobs/s", "{:.0f}"),
)
DETAIL_ROWS = (
    *((f"{phase}_load", f"{phase}: load average before", "{:.2f}") for phase in PHASES),
    ("e2e_enqueue_s", "e2e: producer busy s", "{:.2f}"),
    ("e2e_seconds", "e2e: total s", "{:.2f}"),
    ("drain_all_jobs_s", "drain incl. worker start, jobs/s", "{:.1f}"),
    ("paced_rate", "paced: rate achieved, jobs/s", "{:.1f}"),
)
CHECK_KEYS = ("started_twice", "extra_attempts")


def print_round(phase: str, figures: dict[str, float]) -> None:
    """One phase of one repeat: each system's headline figure and Ballast's ratio to it."""
    key, higher_is_better = HEADLINES[phase]
    ours = figures.get("ballast", math.nan)
    parts = []
    for name, value in figures.items():
        ratio = ""
        if name != "ballast" and not math.isnan(ours) and value and ours:
            times = ours / value if higher_is_better else value / ours
            ratio = f" (ballast {times:.2f}x)"
        parts.append(f"{name} {value:.1f}{ratio}")
    print(f"    {key}: " + ", ".join(parts), flush=True)


def median_spread(values: list[float]) -> tuple[float, float, float]:
    finite = [value for value in values if not math.isnan(value)]
    if not finite:
        return math.nan, math.nan, math.nan
    return statistics.median(finite), min(finite), max(finite)


def cell(values: list[float] | None, fmt: str) -> str:
    if not values:
        return "-"
    mid, low, high = median_spread(values)
    if math.isnan(mid):
        return "n/a"
    if len(values) == 1:
        return fmt.format(mid)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"


def report(
    args: argparse.Namespace, results: dict[str, dict[str, list[float]]], load: list[float], notes: list[str]
) -> dict[str, Any]:
    names = [name for name in SYSTEMS if name in results]
    print()
    print(
        f"--batch {args.batch} ({'one job' if args.batch == 1 else f'{args.batch} jobs'} per enqueueing "
        f"transaction), {args.jobs} jobs, {args.workers} worker processes each, paced at {args.rate:g} jobs/s "
        f"for {args.paced_seconds:g} s, {args.repeat} repeat(s){' (median (min-max))' if args.repeat > 1 else ''}"
    )
    print(
        f"Ballast scheduler {'running' if args.scheduler else 'not running'}; {os.cpu_count()} CPUs; "
        f"load average before/after {load[0]:.2f}/{load[-1]:.2f}"
    )
    width = 26 if args.repeat > 1 else 14
    header = f"{'measure':<34}" + "".join(f"{name:>{width}}" for name in names)
    print(header)
    print("-" * len(header))
    for key, label, fmt in ROWS + DETAIL_ROWS:
        if any(key in results[name] for name in names):
            print(f"{label:<34}" + "".join(f"{cell(results[name].get(key), fmt):>{width}}" for name in names))
    summary: dict[str, Any] = {
        "batch": args.batch,
        "jobs": args.jobs,
        "workers": args.workers,
        "repeat": args.repeat,
        "rate": args.rate,
        "scheduler": args.scheduler,
        "cpus": os.cpu_count(),
        "load_before_after": [round(value, 2) for value in (load[0], load[-1])],
        "runs": {name: {key: [_rounded(v) for v in values] for key, values in results[name].items()} for name in names},
    }
    for name in names:
        summary[name] = {key: _rounded(median_spread(values)[0]) for key, values in results[name].items()}
    print()
    history = median_spread(results.get("ballast", {}).get("history_jobs_s", []))[0]
    empty = median_spread(results.get("ballast", {}).get("e2e_jobs_s", []))[0]
    if not math.isnan(history) and not math.isnan(empty) and empty:
        summary["ratio_history_over_e2e"] = round(history / empty, 3)
        print(f"ballast end to end, {args.history:,} finished jobs in jobs_job / none: {history / empty:.2f}x")
    ratio_keys = [headline for headline, _ in HEADLINES.values() if headline != "history_jobs_s"]
    ratio_keys += ["bulk_jobs_s", "paced_p99_ms"]
    for key in ratio_keys:
        for ours in ("ballast", "ballast_threads"):
            mine = median_spread(results.get(ours, {}).get(key, []))[0]
            if math.isnan(mine):
                continue
            for other in names:
                theirs = median_spread(results.get(other, {}).get(key, []))[0]
                if other.startswith("ballast") or math.isnan(theirs) or not theirs:
                    continue
                # Latencies: how many times lower Ballast's is (above 1 is better, as for the rates).
                ratio = theirs / mine if key.endswith("_ms") else mine / theirs
                summary[f"ratio_{key}_{ours}_over_{other}"] = round(ratio, 3)
                print(f"{ours} / {other}, {key}{' (theirs / ours)' if key.endswith('_ms') else ''}: {ratio:.2f}x")
    notes = list(notes)
    for name in names:
        for key, values in results[name].items():
            if key.endswith(CHECK_KEYS) and any(values):
                notes.append(f"{name} {key} = {values}: jobs that ran, or were attempted, more than once")
        rates = results[name].get("paced_rate", [])
        if rates and min(rates) < 0.95 * args.rate:
            notes.append(f"{name}'s producer reached only {min(rates):.0f} of {args.rate:g} jobs/s when paced")
    for text in notes:
        print(f"note: {text}")
    summary["notes"] = notes
    return summary


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1, help="jobs per enqueueing transaction (default 1)")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per e2e / drain / enqueue run (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per system (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="run every phase K times; median and spread")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"systems, comma-separated (default {','.join(DEFAULT_SYSTEMS)}; ballast_threads with --concurrency)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help="phases, comma-separated (default all)")
    parser.add_argument("--rate", type=float, default=100.0, help="paced phase: jobs/s (default 100)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="paced phase: seconds (default 10)")
    parser.add_argument("--bulk-size", type=int, default=1000, help="jobs per bulk enqueue call (default 1000)")
    parser.add_argument("--io-jobs", type=int, default=400, help="I/O-bound phase: jobs (default 400)")
    parser.add_argument("--io-sleep", type=float, default=0.05, help="I/O-bound phase: each handler's wait, s")
    parser.add_argument(
        "--history", type=int, default=1_000_000, help="history phase: finished jobs in jobs_job (default 1,000,000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="ballast_threads: jobs at once per worker process (default 1)"
    )
    parser.add_argument(
        "--no-scheduler", dest="scheduler", action="store_false", help="run Ballast without jobs_scheduler"
    )
    parser.add_argument("--db-name", default="ballast_bench", help="Ballast's database, dropped and re-created")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark databases at the end")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one run to finish")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="cProfile worker 0 and the producer (e2e)")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the processes' logs and start records here")
    args = parser.parse_args(argv)
    if min(args.jobs, args.workers, args.batch, args.repeat, args.bulk_size, args.io_jobs, args.concurrency) < 1:
        parser.error("--jobs, --workers, --batch, --repeat, --bulk-size, --io-jobs and --concurrency must be positive")
    if args.rate <= 0 or args.io_sleep < 0:
        parser.error("--rate must be positive and --io-sleep not negative")
    args.systems = [name.strip() for name in args.only.split(",") if name.strip()]
    if args.concurrency > 1 and "ballast_threads" not in args.systems and "ballast" in args.systems:
        args.systems.append("ballast_threads")
    args.phase_names = [name.strip() for name in args.phases.split(",") if name.strip()]
    if not args.systems or set(args.systems) - set(SYSTEMS):
        parser.error(f"--only takes some of {', '.join(SYSTEMS)}")
    if not args.phase_names or set(args.phase_names) - set(PHASES):
        parser.error(f"--phases takes some of {', '.join(PHASES)}")
    if "bench" not in args.db_name:
        parser.error("--db-name must contain 'bench' (the database is dropped and re-created)")
    args.redis_url = os.environ.get("REDIS_DSN") or DEFAULT_REDIS_URL
    for option in ("profile", "logs"):
        if getattr(args, option):
            setattr(args, option, getattr(args, option).resolve())
            getattr(args, option).mkdir(parents=True, exist_ok=True)
    return args


def use_dev_environment() -> None:
    """APP_ENV=dev unless told otherwise, and the owner's DSN (the benchmark creates, migrates and empties its
    own databases), as scripts/with-owner.sh gives it to migrate and the scheduler."""
    import environ

    os.environ.setdefault("APP_ENV", "dev")
    if os.environ["APP_ENV"] != "prod":
        environ.Env.read_env(REPO_ROOT / "var" / "owner.env")


def setup_django(redis_url: str) -> None:
    # Before settings load: django_rq's queues point at the benchmark's Redis DB; DEBUG off, as in
    # production (DEBUG keeps every query in memory); `bench` installed, for the bench.noop job type.
    os.environ["REDIS_DSN"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ["DEBUG"] = "false"
    use_dev_environment()
    import django

    django.setup()


@contextlib.contextmanager
def work_directory(keep: Path | None) -> Iterator[str]:
    """Logs and start records: in a fresh sub-directory of `keep`, else in a temporary directory."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="ballast-bench-") as workdir:
            yield workdir
    else:
        yield tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=keep)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C, so every clean-up below runs."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.environ.get("APP_ENV") == "prod":
        print("refusing to run with APP_ENV=prod", file=sys.stderr)
        return 2
    setup_django(args.redis_url)
    from django.conf import settings

    if settings.APP_ENV == "prod":
        print("refusing to run with APP_ENV=prod", file=sys.stderr)
        return 2
    owner = dict(settings.DATABASES["owner"])
    procrastinate_db = f"{args.db_name}_procrastinate"
    args.procrastinate_dsn = _dsn(owner, procrastinate_db)
    args.sql_dsn = _dsn(owner, args.db_name)
    redis = redis_client(args.redis_url)
    redis.ping()
    load = [os.getloadavg()[0]]
    results: dict[str, dict[str, list[float]]] = {name: {} for name in args.systems}
    created: list[str] = []
    ctx: Context | None = None
    with signals_raise(), work_directory(args.logs) as workdir:
        procs = Processes()
        systems: dict[str, System] = {}
        procrastinate: Procrastinate | None = None
        sql_loop: SqlLoop | None = None
        try:
            args.child_env = {
                **point_django_at(args.db_name),
                "REDIS_DSN": args.redis_url,
                "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
                "DEBUG": "false",
            }
            if {"ballast", "ballast_threads", "sql"} & set(args.systems):
                print(f"creating and migrating database {args.db_name} ...", flush=True)
                recreate_database(owner, args.db_name)
                created.append(args.db_name)
                migrate(args, Path(workdir))
            if "ballast" in args.systems:
                systems["ballast"] = Ballast(args, redis)
            if "ballast_threads" in args.systems:
                systems["ballast_threads"] = Ballast(args, redis, concurrency=args.concurrency)
            if "sql" in args.systems:
                sql_loop = SqlLoop(args)
                systems["sql"] = sql_loop
            if "rq" in args.systems:
                systems["rq"] = PlainRQ(args, redis)
            if "procrastinate" in args.systems:
                print(f"creating database {procrastinate_db} ...", flush=True)
                recreate_database(owner, procrastinate_db)
                created.append(procrastinate_db)
                os.environ["BENCH_PROCRASTINATE_DSN"] = args.procrastinate_dsn  # read on import
                procrastinate = Procrastinate(args)
                procrastinate.apply_schema()
                systems["procrastinate"] = procrastinate
            if "procrastinate_fastpoll" in args.systems:
                if procrastinate is None:
                    print(f"creating database {procrastinate_db} ...", flush=True)
                    recreate_database(owner, procrastinate_db)
                    created.append(procrastinate_db)
                    os.environ["BENCH_PROCRASTINATE_DSN"] = args.procrastinate_dsn
                    procrastinate = Procrastinate(args)
                    procrastinate.apply_schema()
                systems["procrastinate_fastpoll"] = Procrastinate(args, poll=PROCRASTINATE_FAST_POLL)
            ctx = Context(args=args, procs=procs, workdir=Path(workdir))
            order = [name for name in SYSTEMS if name in systems]
            for repeat in range(args.repeat):
                rotated = order[repeat % len(order) :] + order[: repeat % len(order)]
                for phase in args.phase_names:
                    round_figures: dict[str, float] = {}
                    for name in rotated:
                        if phase not in ONLY_IN.get(name, PHASES) or name not in ONLY_FOR.get(phase, (name,)):
                            continue
                        load_before = os.getloadavg()[0]
                        print(f"[{repeat + 1}/{args.repeat}] {phase:<7} {name} ...", end=" ", flush=True)
                        figures = PHASE_RUNNERS[phase](ctx, systems[name])
                        figures[f"{phase}_load"] = load_before
                        main_figure = next(iter(figures.items()))
                        print(f"{main_figure[0]} = {main_figure[1]:.1f} (load {load_before:.2f})", flush=True)
                        round_figures[name] = figures[HEADLINES[phase][0]]
                        for key, value in figures.items():
                            results[name].setdefault(key, []).append(value)
                    print_round(phase, round_figures)
        except KeyboardInterrupt:
            print(f"\ninterrupted: stopping {len(procs.running)} process(es) and cleaning up", file=sys.stderr)
            raise
        except BaseException:
            for log in procs.logs[-(args.workers + 1) :]:  # the failed run's
                print(f"--- {log} (tail)\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            procs.stop()
            with contextlib.suppress(Exception):
                redis.flushdb()
            if procrastinate is not None:
                with contextlib.suppress(Exception):
                    procrastinate.close()
            if sql_loop is not None:
                with contextlib.suppress(Exception):
                    sql_loop.close()
            close_django_connections()
            if not args.keep_db:
                for name in created:
                    with contextlib.suppress(Exception):
                        drop_database(owner, name)
    load.append(os.getloadavg()[0])
    summary = report(args, results, load, ctx.notes if ctx else [])
    print("RESULT " + json.dumps(summary, sort_keys=True, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
