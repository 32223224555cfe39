"""The jobs engine (app settings are prefixed JOBS_)."""

from __future__ import annotations

from ballast.settings.environment import IS_PROD, env

__all__ = [
    "EMAIL_RATE_PER_MINUTE",
    "EMAIL_RATE_PER_TENANT_PER_MINUTE",
    "JOBS_BATCH_SIZE",
    "JOBS_CHAOS_LOG",
    "JOBS_CONCURRENCY",
    "JOBS_CRON_GRACE_SECONDS",
    "JOBS_DATABASE_PATIENCE_SECONDS",
    "JOBS_DIAGNOSTICS",
    "JOBS_HANDLER_MODULES",
    "JOBS_HANDOFF_SECONDS",
    "JOBS_LEADER_RENEW_DEADLINE_SECONDS",
    "JOBS_LEADER_RENEW_SECONDS",
    "JOBS_LEASE_SECONDS",
    "JOBS_LINGER_SECONDS",
    "JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS",
    "JOBS_MAX_PAYLOAD_BYTES",
    "JOBS_MAX_RESULT_BYTES",
    "JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS",
    "JOBS_PASS_DEADLINE_SECONDS",
    "JOBS_PREPARED_STATEMENTS",
    "JOBS_PRESENCE_SECONDS",
    "JOBS_SCHEDULER_INTERVAL_MS",
    "JOBS_SERVICE_BACKOFF_CAP_SECONDS",
    "JOBS_SLICE_SECONDS",
    "JOBS_UNKNOWN_TYPE_DELAY_SECONDS",
    "JOBS_UNKNOWN_TYPE_GRACE_SECONDS",
    "JOBS_WAKE_IN_BACKGROUND",
    "JOBS_WAKE_TTL_SECONDS",
    "JOBS_WORKER_CONCURRENCY",
    "QUEUE_PROCESS_SECRET",
]

JOBS_MAX_PAYLOAD_BYTES: int = env.int("JOBS_MAX_PAYLOAD_BYTES", default=256 * 1024)
JOBS_MAX_RESULT_BYTES: int = env.int("JOBS_MAX_RESULT_BYTES", default=256 * 1024)
# A worker that stops heart-beating loses its jobs to the scheduler after this long.
JOBS_LEASE_SECONDS: float = env.float("JOBS_LEASE_SECONDS", default=30.0)
# A worker whose database went away keeps retrying the write that ends its attempt (a failure, or giving back a
# job whose handler never began) on new connections for this long; past it, the lease runs out and rescue takes
# the job back (charging the attempt).
JOBS_DATABASE_PATIENCE_SECONDS: float = env.float("JOBS_DATABASE_PATIENCE_SECONDS", default=120.0)
# Enqueue, a worker's claim and its acknowledgement run as server-side prepared statements (planned once per
# connection, not at every run over each partition of jobs_job: 0.27 ms against 0.96 ms a run for the
# acknowledgement). Turn off behind a pooler that cannot carry prepared statements (PgBouncer in transaction mode
# before 1.21).
JOBS_PREPARED_STATEMENTS: bool = env.bool("JOBS_PREPARED_STATEMENTS", default=True)
# Jobs a worker runs for one wake-up before it hands the (queue, tenant) on, and the time slice it may take.
JOBS_BATCH_SIZE: int = env.int("JOBS_BATCH_SIZE", default=50)
JOBS_SLICE_SECONDS: float = env.float("JOBS_SLICE_SECONDS", default=0.5)
# Jobs one worker process runs at once, each in a thread of its own (`manage.py rqworker --concurrency N`
# overrides it). More than 1 suits I/O-bound handlers; each thread holds a connection of the default alias's pool
# (POSTGRES_POOL_MAX must exceed it) and handler timeouts work as docs/jobs.md says for threads.
JOBS_WORKER_CONCURRENCY: int = env.int("JOBS_WORKER_CONCURRENCY", default=1)
# A job running longer than this hands its queue on to other workers (its batch does not wait behind it).
JOBS_HANDOFF_SECONDS: float = env.float("JOBS_HANDOFF_SECONDS", default=0.2)
# A worker whose (queue, tenant) ran dry waits this long for a commit's nudge before it lets the wake-up go,
# unless other wake-ups wait: a trickle of single-job commits then costs no RQ message per job.
JOBS_LINGER_SECONDS: float = env.float("JOBS_LINGER_SECONDS", default=0.25)
# A wake-up whose holder stops refreshing it (a dead worker) lapses after this; the scheduler then wakes again.
JOBS_WAKE_TTL_SECONDS: float = env.float("JOBS_WAKE_TTL_SECONDS", default=JOBS_LEASE_SECONDS)
# A commit hands its wake-ups to a thread of the process that sends them (jobs.wakeups._Sender), so that the
# committing request or job never waits on Redis; false: the commit's on_commit callback sends them itself.
JOBS_WAKE_IN_BACKGROUND: bool = env.bool("JOBS_WAKE_IN_BACKGROUND", default=True)
# The scheduler (docs/scheduler.md). Its leader renews the leadership lease (JOBS_LEASE_SECONDS) on a ticker of
# its own, and stops leading when no renewal has succeeded for JOBS_LEADER_RENEW_DEADLINE_SECONDS (below the lease,
# so it has stepped down before another scheduler can take the lease).
JOBS_LEADER_RENEW_SECONDS: float = env.float("JOBS_LEADER_RENEW_SECONDS", default=JOBS_LEASE_SECONDS / 3)
JOBS_LEADER_RENEW_DEADLINE_SECONDS: float = env.float(
    "JOBS_LEADER_RENEW_DEADLINE_SECONDS", default=JOBS_LEASE_SECONDS * 2 / 3
)
# Rescue and dispatch: each a service of the leader run at this interval, its statements bounded by the deadline.
JOBS_SCHEDULER_INTERVAL_MS: int = env.int("JOBS_SCHEDULER_INTERVAL_MS", default=500)
JOBS_PASS_DEADLINE_SECONDS: float = env.float("JOBS_PASS_DEADLINE_SECONDS", default=10.0)
# How often the leader looks for periodic tasks whose new slot needs its job, and polls maintenance-owner jobs.
JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS: float = env.float("JOBS_MAINTENANCE_ENQUEUE_INTERVAL_SECONDS", default=1.0)
JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS: float = env.float("JOBS_OWNER_MAINTENANCE_INTERVAL_SECONDS", default=1.0)
# A cron slot the leader reaches later than this after it began is missed: skipped, or run once (its policy).
JOBS_CRON_GRACE_SECONDS: float = env.float("JOBS_CRON_GRACE_SECONDS", default=120.0)
# A scheduler service whose iteration fails runs again after a back-off doubling up to this.
JOBS_SERVICE_BACKOFF_CAP_SECONDS: float = env.float("JOBS_SERVICE_BACKOFF_CAP_SECONDS", default=30.0)
# A claimed job of a type this worker does not know (a web deployed before the workers) goes back to the queue,
# uncharged, for this long, and the worker claims no job of that type again; a newer worker takes it. Workers
# publish the types they know every JOBS_PRESENCE_SECONDS (jobs_workerpresence); a queued type that no live worker
# knows for JOBS_UNKNOWN_TYPE_GRACE_SECONDS raises the `unknown_type` alert.
JOBS_UNKNOWN_TYPE_DELAY_SECONDS: float = env.float("JOBS_UNKNOWN_TYPE_DELAY_SECONDS", default=5.0)
JOBS_UNKNOWN_TYPE_GRACE_SECONDS: float = env.float("JOBS_UNKNOWN_TYPE_GRACE_SECONDS", default=300.0)
JOBS_PRESENCE_SECONDS: float = env.float("JOBS_PRESENCE_SECONDS", default=10.0)
# Modules that declare job types outside an app's job_handlers.py, imported at start-up.
JOBS_HANDLER_MODULES: list[str] = env.list("JOBS_HANDLER_MODULES", default=[])
JOBS_DIAGNOSTICS: bool = env.bool("JOBS_DIAGNOSTICS", default=not IS_PROD)
# bench/chaos.py only: the file diagnostics.chaos appends its execution log to. Empty: the type is disabled.
JOBS_CHAOS_LOG: str = env.str("JOBS_CHAOS_LOG", default="")
# {"job.type": max running at once}, e.g. JOBS_CONCURRENCY=email.send=4,reports.build=1
JOBS_CONCURRENCY: dict[str, int] = {k: int(v) for k, v in env.dict("JOBS_CONCURRENCY", default={}).items()}
EMAIL_RATE_PER_MINUTE: int = env.int("EMAIL_RATE_PER_MINUTE", default=600)
EMAIL_RATE_PER_TENANT_PER_MINUTE: int = env.int("EMAIL_RATE_PER_TENANT_PER_MINUTE", default=120)
# Lets cron call POST /api/v1/queue/process for any tenant. Empty: only tenant admin tokens may.
QUEUE_PROCESS_SECRET: str = env.str("QUEUE_PROCESS_SECRET", default="")
