"""The jobs engine's preflight checks against real worker and scheduler processes."""

from __future__ import annotations

from ballast.jobs.tests.processes import Processes, wait_for
from ballast.lib import preflight
from ballast.tenants.models import Tenant


def _results() -> dict[str, preflight.Result]:
    return {result.name: result for result in preflight.run_checks() if result.name in ("workers", "scheduler_leader")}


def test_preflight_fails_without_workers_or_a_leader_and_passes_once_they_run(
    tenant: Tenant, processes: Processes
) -> None:
    before = _results()
    assert not before["workers"].ok and "rqworker" in before["workers"].detail
    assert not before["scheduler_leader"].ok

    processes.worker(name="worker")  # every queue
    processes.scheduler()
    wait_for(lambda: all(result.ok for result in _results().values()), timeout=60, what="both checks to pass")

    after = _results()
    assert "default: 1" in after["workers"].detail and "leading since" in after["scheduler_leader"].detail
