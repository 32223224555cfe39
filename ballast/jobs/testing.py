"""Helpers for a project's tests: run the due jobs now, in the test's process, against the real database.

from ballast.jobs.testing import run_due_jobs

# The jobs must be committed (claims see only committed rows): ballast.pytest_plugin's `committed` fixture.
def test_signup_sends_the_welcome_task(committed, client):
    client.post("/signup", {...})
    assert run_due_jobs().succeeded == 1
"""

from __future__ import annotations

from ballast.jobs.worker.processing import ProcessReport, process_due_jobs


def run_due_jobs(*, tenant_id: int | None = None, job_type: str | None = None, max_jobs: int = 1000) -> ProcessReport:
    """Claim and run every due job (of one tenant, of one type), one at a time, as a worker would: same
    transactions, retries, dead letters and attempts, but no e-mail rate limits or JOBS_CONCURRENCY caps (a test
    runs what it enqueued, whatever the limits). Jobs that the run enqueues run too when they are due; a failed
    job that will be retried waits for its backoff (it is not due yet), so it is not run again here."""
    return process_due_jobs(
        max_jobs=max_jobs, budget_ms=120_000, tenant_id=tenant_id, job_type=job_type, admission_control=False
    )
