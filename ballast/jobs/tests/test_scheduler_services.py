"""The scheduler's supervised services with real processes: leadership on its own ticker, maintenance as jobs
once per slot (docs/scheduler.md). Leases of 3 s (FAST_SETTINGS)."""

from __future__ import annotations

import itertools
import math
import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from ballast.jobs.models import Job, JobAttempt
from ballast.jobs.services import enqueue
from ballast.jobs.tests.conftest import job_row
from ballast.jobs.tests.processes import FAST_SETTINGS, Processes, wait_for
from ballast.jobs.tests.slot_probe import NAME as PROBE
from ballast.jobs.worker.claim import claim_next
from ballast.outbox import partitioned_tables as partitions
from ballast.tenants.models import Tenant

LEASE = float(FAST_SETTINGS["JOBS_LEASE_SECONDS"])
PROBE_TYPE = f"periodic.{PROBE}"
BECAME = re.compile(r"became the scheduler leader \((\S+), term (\d+)\) at ([\d.]+)")
ENDED = re.compile(r"no longer the scheduler leader \((\S+), term (\d+)\) at ([\d.]+)")


def leadership_terms(*logs: str) -> list[tuple[str, float, float]]:
    """(holder, start, end) of every term the logs record; a term still open ends at infinity."""
    terms: dict[tuple[str, str], list[float]] = {}
    for log in logs:
        for holder, number, at in BECAME.findall(log):
            terms[(holder, number)] = [float(at), math.inf]
        for holder, number, at in ENDED.findall(log):
            terms[(holder, number)][1] = float(at)
    return sorted(((holder, start, end) for (holder, _), (start, end) in terms.items()), key=lambda t: t[1])


def assert_never_two_leaders(*logs: str) -> list[tuple[str, float, float]]:
    terms = leadership_terms(*logs)
    for (holder, _, end), (next_holder, start, _) in itertools.pairwise(terms):
        assert end <= start, f"{holder} led until {end:.3f}, {next_holder} from {start:.3f}"
    return terms


def _leader_pid() -> int | None:
    with connections["system"].cursor() as cursor:
        cursor.execute("SELECT holder FROM jobs_schedulerleader WHERE expires_at > now()")
        row = cursor.fetchone()
    return int(row[0].rsplit(":", 1)[1]) if row else None


def _owner_dsn() -> str:
    db = settings.DATABASES["owner"]
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _vacuum_waiting_on_a_lock() -> bool:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'VACUUM%%' AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def _probe_lines(path: Path) -> list[tuple[str, str, int]]:
    """(kind, slot, pid) of each line the probe wrote."""
    if not path.exists():
        return []
    return [(kind, slot, int(pid)) for kind, slot, pid, _ in (line.split() for line in path.read_text().splitlines())]


def test_a_maintenance_step_held_past_the_lease_delays_neither_rescue_nor_dispatch_nor_leaves_two_leaders(
    tenant: Tenant, processes: Processes, settings: object
) -> None:
    # Given a lock that the minute's VACUUM (outbox.vacuum) waits behind, held from our own connection.
    blocked = partitions.IDEMPOTENCY_RECORDS.partition_name(timezone.now().date())
    holder = psycopg.connect(_owner_dsn())
    holder.execute(f"LOCK TABLE {blocked} IN ACCESS EXCLUSIVE MODE")  # in a transaction until rollback
    try:
        processes.scheduler(name="scheduler-a")
        processes.scheduler(name="scheduler-b")
        wait_for(_vacuum_waiting_on_a_lock, timeout=30, what="the leader's VACUUM to wait on the lock")
        held_since = time.monotonic()
        leader = _leader_pid()

        # When a job's lease expires meanwhile, and a job comes due that only dispatch can wake.
        settings.JOBS_LEASE_SECONDS = 0.5  # type: ignore[attr-defined]
        with transaction.atomic():
            lost = enqueue(tenant=tenant, job_type="diagnostics.echo", payload={"value": "lost"})
            later = enqueue(
                tenant=tenant,
                job_type="diagnostics.echo",
                payload={"value": "later"},
                run_at=timezone.now() + timedelta(seconds=1),
            )
        assert claim_next(queue="default", tenant_id=tenant.pk, worker="test:dead") is not None
        expired_at = time.monotonic() + 0.5
        wait_for(
            lambda: JobAttempt.objects.unscoped().filter(job_id=lost.pk, outcome="lost").exists(),
            timeout=LEASE,
            what="the rescue of the expired lease",
        )
        rescued_after = time.monotonic() - expired_at
        processes.worker("default")
        wait_for(lambda: job_row(later.pk).status == "succeeded", timeout=30, what="the due job to be dispatched")
        leaders = {_leader_pid()}
        while time.monotonic() - held_since < 2 * LEASE:  # the step stays blocked for two leases
            leaders.add(_leader_pid())
            time.sleep(0.1)
        assert _vacuum_waiting_on_a_lock()
    finally:
        holder.rollback()
        holder.close()

    # Then one scheduler led throughout, rescue kept its pace, the step finishes as a job, no terms overlapped.
    assert leaders == {leader}
    assert rescued_after < LEASE, f"rescue took {rescued_after:.1f} s behind a blocked VACUUM"
    wait_for(
        lambda: Job.objects.unscoped().filter(job_type="periodic.outbox.vacuum", status="succeeded").exists(),
        timeout=30,
        what="the VACUUM job to finish",
    )
    wait_for(lambda: job_row(lost.pk).status == "succeeded", timeout=30, what="the rescued job to run again")
    processes.stop_all()
    terms = assert_never_two_leaders(processes.log("scheduler-a"), processes.log("scheduler-b"))
    assert len(terms) == 1, terms  # the blocked step never cost the leader its lease


def test_the_leader_killed_mid_slot_leaves_the_slot_run_exactly_once(
    committed: None, redis: object, processes: Processes, tmp_path: Path
) -> None:
    log = tmp_path / "probe.log"
    probe = {"SLOT_PROBE_LOG": str(log), "SLOT_PROBE_SECONDS": "2"}
    schedulers = [
        processes.scheduler(name=name, imports=("ballast.jobs.tests.slot_probe",), settings=probe) for name in "ab"
    ]
    wait_for(lambda: _probe_lines(log), timeout=30, what="the probe's slot to start")
    (_, slot, pid), *_ = _probe_lines(log)
    leader = next(process for process in schedulers if process.pid == pid)
    assert _leader_pid() == pid  # the leader runs the owner jobs

    processes.kill(leader)  # mid-run: the probe sleeps for 2 s
    key = f"periodic:{PROBE}:{slot}"
    wait_for(
        lambda: Job.objects.unscoped().filter(idempotency_key=key, status="succeeded").exists(),
        timeout=45,
        what="the slot's job to succeed",
    )

    lines = _probe_lines(log)
    jobs = list(Job.objects.unscoped().filter(job_type=PROBE_TYPE, idempotency_key=key))
    assert [kind for kind, line_slot, _ in lines if line_slot == slot] == ["S", "S", "E"]
    assert len(jobs) == 1 and jobs[0].status == "succeeded" and jobs[0].attempts == 2
    outcomes = sorted(JobAttempt.objects.unscoped().filter(job_id=jobs[0].pk).values_list("outcome", flat=True))
    assert outcomes == ["lost", "succeeded"]
    assert lines[-1][2] != pid  # the other scheduler finished it
    assert Job.objects.unscoped().filter(job_type=PROBE_TYPE).count() == len({s for _, s, _ in lines})


def test_a_new_leader_does_not_run_the_current_slot_again(
    committed: None, redis: object, processes: Processes, tmp_path: Path
) -> None:
    log = tmp_path / "probe.log"
    probe = {"SLOT_PROBE_LOG": str(log)}
    first = processes.scheduler(name="scheduler-a", imports=("ballast.jobs.tests.slot_probe",), settings=probe)
    wait_for(
        lambda: Job.objects.unscoped().filter(job_type=PROBE_TYPE, status="succeeded").exists(),
        timeout=30,
        what="the slot's job to run",
    )
    first.send_signal(signal.SIGTERM)  # a clean stop releases the lease: the next leader starts at once
    first.wait(timeout=15)

    processes.scheduler(name="scheduler-b", imports=("ballast.jobs.tests.slot_probe",), settings=probe)
    wait_for(lambda: "maintenance enqueuer" in processes.log("scheduler-b"), timeout=30, what="b's enqueuer")
    time.sleep(0.5)  # what b would have run, it has claimed by now (its owner worker is woken at once)

    slot = _probe_lines(log)[0][1]
    assert [kind for kind, line_slot, _ in _probe_lines(log) if line_slot == slot] == ["S", "E"]
    assert Job.objects.unscoped().filter(job_type=PROBE_TYPE, idempotency_key=f"periodic:{PROBE}:{slot}").count() == 1
    assert "became the scheduler leader" in processes.log("scheduler-b")


def test_a_cron_slot_has_one_job_when_the_leader_is_killed_and_the_next_leader_passes_the_same_slot(
    committed: None, redis: object, processes: Processes
) -> None:
    from ballast.jobs import schedules
    from ballast.jobs.models import Schedule
    from ballast.tenants.services import create_tenant

    tenant = create_tenant(slug="cron", name="Cron")
    schedule = schedules.create_schedule(
        tenant_id=tenant.pk,
        name="every minute",
        job_type="diagnostics.echo",
        payload={"value": 1},
        expression="* * * * *",
        actor="user:alice",
    )
    slot = timezone.now().replace(second=0, microsecond=0)
    Schedule.objects.unscoped().filter(pk=schedule.pk).update(next_run_at=slot)
    schedulers = [processes.scheduler(name=f"scheduler-{name}") for name in "ab"]
    key = schedules.slot_key(schedule.pk, slot)
    wait_for(lambda: Job.objects.unscoped().filter(idempotency_key=key).exists(), timeout=30, what="the slot's job")

    leader = next(process for process in schedulers if process.pid == _leader_pid())
    processes.kill(leader)
    # The same slot comes round again for the next leader, as when a pass read the row before the last one moved it.
    Schedule.objects.unscoped().filter(pk=schedule.pk).update(next_run_at=slot)
    wait_for(
        lambda: (Schedule.objects.unscoped().get(pk=schedule.pk).next_run_at or slot) > slot,
        timeout=30,
        what="the next leader's cron pass",
    )

    assert _leader_pid() not in (None, leader.pid)
    keys = list(Job.objects.unscoped().filter(job_type="diagnostics.echo").values_list("idempotency_key", flat=True))
    assert keys.count(key) == 1 and len(keys) == len(set(keys))
