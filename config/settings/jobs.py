"""The jobs engine (app settings are prefixed JOBS_)."""

from __future__ import annotations

from config.settings.env import IS_PROD, env

__all__ = [
    "EMAIL_RATE_PER_MINUTE",
    "EMAIL_RATE_PER_TENANT_PER_MINUTE",
    "JOBS_BATCH_SIZE",
    "JOBS_CONCURRENCY",
    "JOBS_DIAGNOSTICS",
    "JOBS_FAIRNESS_AFTER_SECONDS",
    "JOBS_LEASE_SECONDS",
    "JOBS_MAX_PAYLOAD_BYTES",
    "JOBS_MAX_RESULT_BYTES",
    "JOBS_REDISPATCH_AFTER_SECONDS",
    "JOBS_SCHEDULER_INTERVAL_MS",
    "QUEUE_PROCESS_SECRET",
]

JOBS_MAX_PAYLOAD_BYTES: int = env.int("JOBS_MAX_PAYLOAD_BYTES", default=256 * 1024)
JOBS_MAX_RESULT_BYTES: int = env.int("JOBS_MAX_RESULT_BYTES", default=256 * 1024)
# A worker that stops heart-beating loses its jobs to the scheduler after this long.
JOBS_LEASE_SECONDS: float = env.float("JOBS_LEASE_SECONDS", default=30.0)
# Jobs one RQ message may carry (claimed and acknowledged together).
JOBS_BATCH_SIZE: int = env.int("JOBS_BATCH_SIZE", default=50)
JOBS_SCHEDULER_INTERVAL_MS: int = env.int("JOBS_SCHEDULER_INTERVAL_MS", default=500)
# A due job whose message is older than this while its RQ queue is empty lost its message: push again.
JOBS_REDISPATCH_AFTER_SECONDS: float = env.float("JOBS_REDISPATCH_AFTER_SECONDS", default=30.0)
# A tenant's oldest due job waiting longer than this goes to the front of its queue (fairness).
JOBS_FAIRNESS_AFTER_SECONDS: float = env.float("JOBS_FAIRNESS_AFTER_SECONDS", default=1.0)
JOBS_DIAGNOSTICS: bool = env.bool("JOBS_DIAGNOSTICS", default=not IS_PROD)
# {"job.type": max running at once}, e.g. JOBS_CONCURRENCY=email.send=4,reports.build=1
JOBS_CONCURRENCY: dict[str, int] = {k: int(v) for k, v in env.dict("JOBS_CONCURRENCY", default={}).items()}
EMAIL_RATE_PER_MINUTE: int = env.int("EMAIL_RATE_PER_MINUTE", default=600)
EMAIL_RATE_PER_TENANT_PER_MINUTE: int = env.int("EMAIL_RATE_PER_TENANT_PER_MINUTE", default=120)
# Lets cron call POST /api/v1/queue/process for any tenant. Empty: only tenant admin tokens may.
QUEUE_PROCESS_SECRET: str = env.str("QUEUE_PROCESS_SECRET", default="")
