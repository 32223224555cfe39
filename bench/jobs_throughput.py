"""Throughput and latency of Ballast's jobs engine against plain RQ, in one sitting on one machine.

    .venv/bin/python bench/jobs_throughput.py [--jobs N] [--workers 2] [--batch 50] [--only ballast|rq]
                                              [--prefill] [--profile DIR] [--timeout S]

Ballast: N `diagnostics.echo` jobs enqueued with jobs.services.enqueue, `--batch` per tenant_scope transaction, run by
`--workers` `manage.py rqworker default` processes (SimpleWorker) that were started before the first enqueue.
Plain RQ: N calls of bench.noop.noop enqueued with Queue.enqueue_many in pipelines of `--batch`, run by
`--workers` `rq worker --worker-class rq.worker.SimpleWorker` processes, also started beforehand.

Throughput = N / (first enqueue -> last job finished), from the jobs' own timestamps (same clock: one machine).
Latency (p50/p99): Ballast commit of the enqueueing transaction -> claim (started_at); also row created_at -> claim.
RQ job.started_at - job.enqueued_at. "drain jobs/s" = N / (first job started -> last finished): with --prefill
(enqueue everything, then start the workers) it measures the workers alone. The last stdout line is `RESULT {json}`.

Uses a dedicated Redis DB (REDIS_DSN, default redis://127.0.0.1:6379/3), flushed before, between and after
the runs, and the tenant `bench`, whose jobs, attempts and audit entries are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
TENANT_SLUG = "bench"
RQ_QUEUE = "bench"
BALLAST_QUEUE = "default"
POLL_SECONDS = 0.05
STOP_TIMEOUT = 15.0
READY_TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def as_epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # RQ keeps naive UTC in some versions
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass
class Workers:
    """Subprocesses this script started; each is stopped with SIGTERM, then SIGKILL after a timeout."""

    logdir: Path
    procs: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)  # every log, kept for the failure report

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - argv is built here, not from input
                argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((proc, log))
        self.logs.append(log)

    def pids(self) -> list[int]:
        return [proc.pid for proc, _log in self.procs]

    def check_alive(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {proc.pid} exited with {proc.returncode}; log:\n{tail(log)}")

    def stop(self) -> None:
        for proc, _log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc, _log in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self.procs.clear()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, workers: Workers | None = None) -> float:
    """Poll until predicate() holds; the time.time() at which it was seen. TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.time()
        if workers is not None:
            workers.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def redis_connection(url: str) -> Any:
    from redis import Redis

    return Redis.from_url(url)


def registered_workers(redis: Any, queue_name: str) -> int:
    from rq import Worker

    return sum(1 for worker in Worker.all(connection=redis) if queue_name in worker.queue_names())


def worker_env(redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["REDIS_DSN"] = redis_url
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RunResult:
    name: str
    jobs: int
    seconds: float  # first enqueue -> last job finished (jobs' timestamps)
    throughput: float  # jobs / s over `seconds`
    enqueue_seconds: float  # first enqueue -> last batch committed / pipelined
    observed_seconds: float  # first enqueue -> this script saw all N finished (includes polling slack)
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    drain_throughput: float  # jobs / s from the first job started to the last finished (workers only)
    extra: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- Ballast


def bench_tenant_id() -> int:
    from tenants.selectors import tenant_by_slug
    from tenants.services import create_tenant

    tenant = tenant_by_slug(TENANT_SLUG) or create_tenant(slug=TENANT_SLUG, name="Benchmarks")
    return int(tenant.pk)


def count_jobs(tenant_id: int, status: str) -> int:
    from django.db import connections

    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_job WHERE tenant_id = %s AND status = %s", [tenant_id, status])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def delete_bench_rows(tenant_id: int) -> None:
    """Jobs and attempts as the system role; audit entries (append-only for runtime roles) as the owner."""
    from django.db import connections, transaction

    from tenants.context import tenant_scope

    with transaction.atomic(using="system"), connections["system"].cursor() as cursor:
        for table in ("jobs_jobattempt", "jobs_checkpoint", "jobs_deadletter", "jobs_job"):
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608 - fixed names
    try:
        # FORCE ROW LEVEL SECURITY applies to the owner too: delete inside the tenant's scope.
        with tenant_scope(tenant_id, using="owner"), connections["owner"].cursor() as cursor:
            cursor.execute("DELETE FROM tenants_auditentry WHERE tenant_id = %s", [tenant_id])
    except Exception as exc:
        print(f"note: audit entries of tenant {TENANT_SLUG!r} were left in place ({exc})", file=sys.stderr)


def run_ballast(args: argparse.Namespace, redis: Any, workers: Workers, profile_dir: Path | None) -> RunResult:
    from django.conf import settings
    from django.db import connections, transaction

    from jobs.services import enqueue
    from tenants.context import tenant_scope

    tenant_id = bench_tenant_id()
    delete_bench_rows(tenant_id)  # leftovers of an interrupted run
    redis.flushdb()
    env = worker_env(args.redis_url)

    def start_workers() -> None:
        for index in range(args.workers):
            argv = [sys.executable, "manage.py", "rqworker", BALLAST_QUEUE]
            argv += ["--name", f"bench-ballast-{os.getpid()}-{index}"]
            if profile_dir is not None and index == 0:
                argv[1:1] = ["-m", "cProfile", "-o", str(profile_dir / "ballast-worker0.prof")]
            workers.start(f"ballast-worker{index}", argv, env)
        wait_until(
            lambda: registered_workers(redis, BALLAST_QUEUE) >= args.workers, READY_TIMEOUT, "Ballast workers", workers
        )

    if not args.prefill:
        start_workers()
    commit_times: list[float] = []
    batch_ids: list[list[int]] = []
    profiler = _profiler(profile_dir)
    started = time.time()
    for first in range(0, args.jobs, args.batch):
        ids: list[int] = []
        with tenant_scope(tenant_id):  # a tenant's transaction, as in an API request or a handler
            # Registered before enqueue's own push callback, so it runs first: right after COMMIT.
            transaction.on_commit(lambda: commit_times.append(time.time()))
            for number in range(first, min(first + args.batch, args.jobs)):
                ids.append(enqueue(tenant=tenant_id, job_type="diagnostics.echo", payload={"value": number}).pk)
        batch_ids.append(ids)
    enqueued = time.time()
    _dump_profile(profiler, profile_dir, "ballast-enqueue.prof")
    if args.prefill:
        start_workers()

    def all_succeeded() -> bool:
        return count_jobs(tenant_id, "succeeded") >= args.jobs

    timeout = args.timeout
    observed = wait_until(all_succeeded, timeout, f"{args.jobs} Ballast jobs to succeed", workers)
    ours = {f"{socket.gethostname()}:{pid}" for pid in workers.pids()}  # jobs.execution.worker_identity()
    workers.stop()

    commit_of = {job_id: commit_times[index] for index, ids in enumerate(batch_ids) for job_id in ids}
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT id, extract(epoch FROM created_at), extract(epoch FROM started_at), "
            "extract(epoch FROM finished_at) FROM jobs_job WHERE tenant_id = %s",
            [tenant_id],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT max(extract(epoch FROM finished_at)), count(*), count(DISTINCT worker) "
            "FROM jobs_jobattempt WHERE tenant_id = %s",
            [tenant_id],
        )
        attempt_row = cursor.fetchone()
        cursor.execute("SELECT DISTINCT worker FROM jobs_jobattempt WHERE tenant_id = %s", [tenant_id])
        foreign = {row[0] for row in cursor.fetchall()} - ours
    if foreign:
        print(f"warning: workers not started by this benchmark ran jobs: {sorted(foreign)}", file=sys.stderr)
    assert attempt_row is not None
    last_attempt_finished, attempt_count, distinct_workers = attempt_row
    # The end: the later of the job's finished_at and its attempt row's (written at the group's commit).
    last_finished = max(float(last_attempt_finished), max(float(row[3]) for row in rows))
    enqueue_to_start = [(float(row[2]) - float(row[1])) * 1000 for row in rows]
    commit_to_start = [(float(row[2]) - commit_of[row[0]]) * 1000 for row in rows]
    seconds = last_finished - started
    first_started = min(float(row[2]) for row in rows)
    return RunResult(
        name="ballast",
        jobs=args.jobs,
        seconds=seconds,
        throughput=args.jobs / seconds,
        enqueue_seconds=enqueued - started,
        observed_seconds=observed - started,
        # Commit-to-start: from the enqueueing transaction's COMMIT to the claim (RQ: enqueue to start).
        latency_p50_ms=percentile(commit_to_start, 50),
        latency_p99_ms=percentile(commit_to_start, 99),
        latency_max_ms=max(commit_to_start),
        drain_throughput=args.jobs / (last_finished - first_started),
        extra={
            "row_created_to_start_p50_ms": percentile(enqueue_to_start, 50),
            "row_created_to_start_p99_ms": percentile(enqueue_to_start, 99),
            "attempts": float(attempt_count),
            "workers_that_ran_jobs": float(distinct_workers),
            "jobs_batch_size": float(settings.JOBS_BATCH_SIZE),
            "messages": float(len(batch_ids)),
        },
    )


# ---------------------------------------------------------------------------------------------- plain RQ


def run_rq(args: argparse.Namespace, redis: Any, workers: Workers, profile_dir: Path | None) -> RunResult:
    from rq import Queue
    from rq.job import Job as RQJob
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from bench.noop import noop

    redis.flushdb()
    env = worker_env(args.redis_url)
    rq_bin = str(Path(sys.executable).parent / "rq")

    def start_workers() -> None:
        for index in range(args.workers):
            argv = [rq_bin, "worker", "--worker-class", "rq.worker.SimpleWorker", "--url", args.redis_url]
            argv += ["--name", f"bench-rq-{os.getpid()}-{index}", RQ_QUEUE]
            if profile_dir is not None and index == 0:
                argv = [sys.executable, "-m", "cProfile", "-o", str(profile_dir / "rq-worker0.prof"), *argv]
            workers.start(f"rq-worker{index}", argv, env)
        wait_until(lambda: registered_workers(redis, RQ_QUEUE) >= args.workers, READY_TIMEOUT, "RQ workers", workers)

    if not args.prefill:
        start_workers()

    queue = Queue(RQ_QUEUE, connection=redis)
    finished_key = FinishedJobRegistry(queue=queue).key
    failed_key = FailedJobRegistry(queue=queue).key
    job_ids: list[str] = []
    started = time.time()
    for first in range(0, args.jobs, args.batch):
        # result_ttl left at RQ's default (500 s): results are kept, as in ordinary RQ use. (Ballast's own
        # messages use result_ttl=0 because Postgres holds the result; here RQ is the system of record.)
        datas = [
            Queue.prepare_data(noop, args=(number,)) for number in range(first, min(first + args.batch, args.jobs))
        ]
        with redis.pipeline() as pipe:
            jobs = queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
        job_ids += [job.id for job in jobs]
    enqueued = time.time()
    if args.prefill:
        start_workers()

    def all_finished() -> bool:
        if redis.zcard(failed_key):
            raise RuntimeError(f"{redis.zcard(failed_key)} RQ job(s) failed")
        return int(redis.zcard(finished_key)) >= args.jobs

    observed = wait_until(all_finished, args.timeout, f"{args.jobs} RQ jobs to finish", workers)
    workers.stop()

    latencies: list[float] = []
    starts: list[float] = []
    ends: list[float] = []
    for first in range(0, len(job_ids), 1000):
        for job in RQJob.fetch_many(job_ids[first : first + 1000], connection=redis):
            if job is None:
                continue
            enqueued_at, started_at, ended_at = (
                as_epoch(job.enqueued_at),
                as_epoch(job.started_at),
                as_epoch(job.ended_at),
            )
            if started_at is not None:
                starts.append(started_at)
                if enqueued_at is not None:
                    latencies.append((started_at - enqueued_at) * 1000)
            if ended_at is not None:
                ends.append(ended_at)
    if len(ends) < args.jobs:
        raise RuntimeError(f"only {len(ends)} of {args.jobs} RQ jobs have an end time")
    seconds = max(ends) - started
    return RunResult(
        name="rq",
        jobs=args.jobs,
        seconds=seconds,
        throughput=args.jobs / seconds,
        enqueue_seconds=enqueued - started,
        observed_seconds=observed - started,
        latency_p50_ms=percentile(latencies, 50),
        latency_p99_ms=percentile(latencies, 99),
        latency_max_ms=max(latencies),
        drain_throughput=args.jobs / (max(ends) - min(starts)),
        extra={"latency_samples": float(len(latencies))},
    )


# ---------------------------------------------------------------------------------------------- main


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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per run (default 5000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per run (default 2)")
    parser.add_argument("--batch", type=int, default=50, help="jobs per transaction / pipeline (default 50)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for a run to finish")
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="enqueue everything before starting the workers (measures the workers alone: see 'drain jobs/s')",
    )
    parser.add_argument("--only", choices=("ballast", "rq"), help="run one side only")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="cProfile worker 0 of each run and the enqueue")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.workers < 1 or args.batch < 1:
        parser.error("--jobs, --workers and --batch must be positive")
    args.redis_url = os.environ.get("REDIS_DSN") or DEFAULT_REDIS_URL
    return args


def setup_django(redis_url: str) -> None:
    os.environ["REDIS_DSN"] = redis_url  # before settings load: django_rq's queues then point at the bench DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def report(args: argparse.Namespace, results: list[RunResult]) -> dict[str, Any]:
    print()
    print(
        f"jobs={args.jobs} workers={args.workers} batch={args.batch} prefill={args.prefill} "
        f"redis={args.redis_url} cpus={os.cpu_count()}"
    )
    header = (
        f"{'run':<8} {'jobs/s':>9} {'total s':>8} {'enqueue s':>10} {'seen s':>7} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'drain jobs/s':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<8} {r.throughput:>9.1f} {r.seconds:>8.2f} {r.enqueue_seconds:>10.2f} {r.observed_seconds:>7.2f} "
            f"{r.latency_p50_ms:>9.1f} {r.latency_p99_ms:>9.1f} {r.latency_max_ms:>9.1f} {r.drain_throughput:>13.1f}"
        )
    by_name = {r.name: r for r in results}
    summary: dict[str, Any] = {
        "jobs": args.jobs,
        "workers": args.workers,
        "batch": args.batch,
        "prefill": args.prefill,
        "cpus": os.cpu_count(),
    }
    for r in results:
        summary[r.name] = {
            key: round(value, 2) if isinstance(value, float) else value for key, value in asdict(r).items()
        }
        summary[r.name]["extra"] = {key: round(value, 2) for key, value in r.extra.items()}
    if "ballast" in by_name:
        extra = by_name["ballast"].extra
        print(
            f"ballast row created->start p50 {extra['row_created_to_start_p50_ms']:.1f} ms, "
            f"p99 {extra['row_created_to_start_p99_ms']:.1f} ms (includes the rest of the enqueueing transaction)"
        )
    if "ballast" in by_name and "rq" in by_name:
        ratio = by_name["ballast"].throughput / by_name["rq"].throughput
        summary["ratio_ballast_over_rq"] = round(ratio, 3)
        print(f"throughput ratio Ballast/RQ: {ratio:.3f}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_django(args.redis_url)
    redis = redis_connection(args.redis_url)
    redis.ping()
    profile_dir: Path | None = args.profile.resolve() if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    tenant_id: int | None = None
    with tempfile.TemporaryDirectory(prefix="ballast-bench-") as logdir:
        workers = Workers(Path(logdir))
        try:
            redis.flushdb()
            if args.only in (None, "ballast"):
                tenant_id = bench_tenant_id()
                print(
                    f"Ballast: {args.jobs} jobs, {args.workers} workers, {args.batch} per transaction ...", flush=True
                )
                results.append(run_ballast(args, redis, workers, profile_dir))
            if args.only in (None, "rq"):
                print(f"plain RQ: {args.jobs} jobs, {args.workers} workers, {args.batch} per pipeline ...", flush=True)
                results.append(run_rq(args, redis, workers, profile_dir))
        except BaseException:
            for log in workers.logs:
                print(f"--- {log.name} (tail)\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            workers.stop()
            if tenant_id is not None:
                delete_bench_rows(tenant_id)
            redis.flushdb()
    summary = report(args, results)
    print("RESULT " + json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
