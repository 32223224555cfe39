"""Data lifecycle (lifecycle/): partitions created ahead, retention by dropping whole partitions, health limits."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = [
    "JOBS_PARTITIONS_AHEAD",
    "LIFECYCLE_BLOAT_DEAD_RATIO",
    "LIFECYCLE_PARTITIONS_AHEAD",
    "RETENTION_AUDIT_DAYS",
    "RETENTION_EMAIL_DELIVERIES_DAYS",
    "RETENTION_JOBS_DAYS",
    "RETENTION_WEBHOOK_DELIVERIES_DAYS",
]

# Periods created ahead for every partitioned table (months, or days for daily tables); preflight fails when
# the next one is missing.
LIFECYCLE_PARTITIONS_AHEAD: int = env.int("LIFECYCLE_PARTITIONS_AHEAD", default=3)
# Months of jobs_job created ahead: fewer than the others, since every claim is planned over all of its
# partitions (each costs a worker about 0.05 ms a statement). The next month's is always there.
JOBS_PARTITIONS_AHEAD: int = env.int("JOBS_PARTITIONS_AHEAD", default=1)
# Jobs, attempts and checkpoints: a month's partition is dropped once all of it is older than this. A month of
# jobs is kept while any of them is unfinished; a checkpoint partition while it holds an unfinished job's
# checkpoint (its resume point).
RETENTION_JOBS_DAYS: int = env.int("RETENTION_JOBS_DAYS", default=90)
# Audit entries (append-only; compliance usually wants a year or more).
RETENTION_AUDIT_DAYS: int = env.int("RETENTION_AUDIT_DAYS", default=400)
# Webhook deliveries (by the event's month): the history a tenant reads through the API to debug its receiver.
# 30 days, as the large webhook senders keep (Stripe's events, Svix's default); the retry schedule ends within
# about a day (up to a few with Retry-After), and a month holding a pending delivery is kept anyway.
RETENTION_WEBHOOK_DELIVERIES_DAYS: int = env.int("RETENTION_WEBHOOK_DELIVERIES_DAYS", default=30)
# Email deliveries: the record of what was sent, and the window in which a send_email key stays unique (a key
# reused after its delivery's month is dropped sends again). 90 days, as job attempts: the audit log keeps
# email.queued/sent entries longer. A month holding a delivery whose job is still running is kept anyway.
RETENTION_EMAIL_DELIVERIES_DAYS: int = env.int("RETENTION_EMAIL_DELIVERIES_DAYS", default=90)
# partition_health: a partition whose dead tuples exceed this share of its rows (and 10,000) is reported.
LIFECYCLE_BLOAT_DEAD_RATIO: float = env.float("LIFECYCLE_BLOAT_DEAD_RATIO", default=0.2)
