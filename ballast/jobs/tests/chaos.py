"""Chaos with real processes (used by test_chaos.py and bench/chaos.py).

Two workers and a scheduler run a mix of 1 ms, 50 ms and 2 s (checkpointed) diagnostics.chaos jobs; a killer
SIGKILLs a random worker every couple of seconds and starts a new one, and flushes Redis once. Each attempt
logs its start and end to a file outside the database. `check()` then proves, from the log, the kills and the
database: every job succeeded; no two executions of one job overlapped; a job ran again only when a worker
died while running it; no attempt was charged to a job that never started; every checkpoint's work is in the
database, exactly once.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import django_rq
from django.db import connections, transaction

from ballast.jobs.job_handlers import CHAOS_STEPS
from ballast.jobs.services import NewJob, enqueue_many
from ballast.jobs.tests.processes import Processes

# A claim commits just before the handler starts; under load a SIGKILL can land in between (a round trip or two).
CLAIM_TO_START_SECONDS = 1.0


@dataclass
class ChaosRun:
    job_ids: list[int] = field(default_factory=list)
    slow_ids: list[int] = field(default_factory=list)
    kills: list[tuple[int, float]] = field(default_factory=list)  # (pid, time)
    flushed_at: float = 0.0
    elapsed: float = 0.0
    killed_before_start: int = 0


@dataclass
class Attempt:
    job_id: int
    attempt: int
    pid: int
    start: float
    end: float | None = None


def enqueue_mix(tenant_id: int, *, fast: int, medium: int, slow: int) -> ChaosRun:
    kinds = [0.001] * fast + [0.05] * medium + [2.0] * slow
    random.Random(7).shuffle(kinds)
    run = ChaosRun()
    with transaction.atomic():
        for start in range(0, len(kinds), 500):
            jobs = enqueue_many(
                tenant=tenant_id,
                jobs=[NewJob("diagnostics.chaos", {"seconds": seconds}) for seconds in kinds[start : start + 500]],
            )
            run.job_ids += [job.pk for job in jobs]
            run.slow_ids += [
                job.pk for job, seconds in zip(jobs, kinds[start : start + 500], strict=True) if seconds >= 1
            ]
    return run


def run_chaos(
    processes: Processes,
    run: ChaosRun,
    *,
    log: Path,
    kill_every: float = 2.0,
    timeout: float = 110.0,
    settings: dict[str, str] | None = None,
) -> ChaosRun:
    env = {"JOBS_CHAOS_LOG": str(log), **(settings or {})}
    rng = random.Random(11)
    started = time.monotonic()
    processes.scheduler(settings=env)
    names = [f"worker-{index}" for index in range(2)]
    workers = [processes.worker("default", name=name, settings=env) for name in names]
    next_kill = started + kill_every
    flushed = False
    serial = 2
    while not _all_done(run.job_ids):
        now = time.monotonic()
        if now - started > timeout:
            break
        ready = [index for index, name in enumerate(names) if "Listening on" in processes.log(name)]
        if now >= next_kill and ready:
            # Only a worker that has started working: on a loaded machine a kill interval shorter than a
            # worker's boot would otherwise kill workers before they ever claim a job.
            victim = rng.choice(ready)
            processes.kill(workers[victim])
            # Stamped once the process is dead (not before the signal): a claim it made while this process
            # was between reading the clock and signalling would otherwise look later than its death.
            run.kills.append((workers[victim].pid, time.time()))
            names[victim] = f"worker-{serial}"
            workers[victim] = processes.worker("default", name=names[victim], settings=env)
            serial += 1
            next_kill = now + kill_every * rng.uniform(0.5, 1.5)
        if not flushed and now - started > 3 * kill_every:
            django_rq.get_connection("default").flushdb()  # every wake-up and baton is gone
            run.flushed_at = time.time()
            flushed = True
        time.sleep(0.1)
    run.elapsed = time.monotonic() - started
    processes.stop_all()
    return run


def _all_done(job_ids: list[int]) -> bool:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_job WHERE id = ANY(%s) AND status <> 'succeeded'", [job_ids])
        row = cursor.fetchone()
    return row is not None and row[0] == 0


def read_log(log: Path) -> dict[int, list[Attempt]]:
    """The execution log, `S|E|F job attempt pid time` (an attempt's start, end or failure), by job."""
    attempts: dict[tuple[int, int], Attempt] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        kind, job_id, attempt, pid, at = line.split()
        key = (int(job_id), int(attempt))
        if kind == "S":
            attempts[key] = Attempt(int(job_id), int(attempt), int(pid), float(at))
        elif key in attempts:
            attempts[key].end = float(at)
    by_job: dict[int, list[Attempt]] = defaultdict(list)
    for entry in sorted(attempts.values(), key=lambda a: (a.job_id, a.attempt)):
        by_job[entry.job_id].append(entry)
    return by_job


def checkpoint_steps() -> dict[int, dict[int, int]]:
    """How often each checkpointed chaos job's steps wrote their audit row: {job: {step: count}}."""
    steps: dict[int, dict[int, int]] = defaultdict(dict)
    with connections["system"].cursor() as cursor:
        cursor.execute(
            "SELECT target_id::bigint, (data->>'step')::int, count(*) FROM tenants_auditentry "
            "WHERE action = 'diagnostics.chaos_step' GROUP BY 1, 2"
        )
        for job_id, step, count in cursor.fetchall():
            steps[job_id][step] = count
    return steps


def check(run: ChaosRun, log: Path) -> list[str]:
    """Every violation of the guarantees, as sentences (empty: all hold)."""
    problems: list[str] = []
    by_job = read_log(log)
    killed_at: dict[int, float] = dict(run.kills)
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT id, status, attempts FROM jobs_job WHERE id = ANY(%s)", [run.job_ids])
        rows = {job_id: (status, attempts) for job_id, status, attempts in cursor.fetchall()}
        steps = checkpoint_steps()
        cursor.execute(
            "SELECT job_id, attempt, worker, extract(epoch FROM started_at) FROM jobs_jobattempt "
            "WHERE outcome = 'lost' AND job_id = ANY(%s)",
            [run.job_ids],
        )
        claimed_at = {
            (job_id, attempt): (int(worker.rsplit(":", 1)[1]), float(at))
            for job_id, attempt, worker, at in cursor.fetchall()
            if ":" in worker
        }
    for job_id in run.job_ids:
        status, charged = rows[job_id]
        executions = by_job.get(job_id, [])
        if status != "succeeded":
            problems.append(f"job {job_id} ended {status}")
        started = {attempt.attempt for attempt in executions}
        for number in range(1, charged + 1):
            if number in started:
                continue
            # Charged but never started: only a worker killed in the instant between its claim and the
            # handler's first line may leave that (the claim is the attempt's start in the database).
            claim = claimed_at.get((job_id, number))
            died = killed_at.get(claim[0]) if claim else None
            if claim is None or died is None or not 0 <= died - claim[1] <= CLAIM_TO_START_SECONDS:
                seen = f"claimed by pid {claim[0]} at {claim[1]:.3f}" if claim else "no lost attempt row"
                problems.append(
                    f"job {job_id} was charged attempt {number} but never started it ({seen}; "
                    f"that pid {'died at ' + format(died, '.3f') if died else 'was not killed'})"
                )
            else:
                run.killed_before_start += 1
        for earlier, later in itertools.pairwise(executions):
            # An attempt that logged its end may still have died before its acknowledgement committed.
            died = killed_at.get(earlier.pid)
            if died is None or died < earlier.start:
                problems.append(f"job {job_id} attempt {earlier.attempt} was abandoned without its worker dying")
            elif later.start < died:
                problems.append(f"job {job_id} attempts {earlier.attempt} and {later.attempt} overlapped")
        if job_id in run.slow_ids and status == "succeeded":
            expected = {step: 1 for step in range(1, CHAOS_STEPS + 1)}
            if steps.get(job_id, {}) != expected:
                problems.append(f"job {job_id}: checkpointed work {steps.get(job_id)} is not each step once")
    return problems


def summary(run: ChaosRun, log: Path) -> dict[str, float]:
    by_job = read_log(log)
    reruns = sum(len(executions) - 1 for executions in by_job.values())
    return {
        "jobs": len(run.job_ids),
        "slow_jobs": len(run.slow_ids),
        "kills": len(run.kills),
        "re_executions": reruns,
        "killed_between_claim_and_start": run.killed_before_start,
        "elapsed_s": round(run.elapsed, 1),
        "jobs_per_s": round(len(run.job_ids) / run.elapsed, 1) if run.elapsed else 0.0,
    }
