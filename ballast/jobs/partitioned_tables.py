"""The jobs app's partitioned tables: attempts and checkpoints (per tenant) and jobs, each by month."""

from __future__ import annotations

from ballast.jobs import sql as jobs_sql
from ballast.lib.partitioned_tables import HighVolumeTable, days, register
from ballast.lib.partitioning import RangePartitioned

# A partition of checkpoints is kept while any job with a checkpoint in it is unfinished: it is that job's
# resume point, however old.
_CHECKPOINT_OF_UNFINISHED_JOB = (
    "SELECT 1 FROM {partition} c JOIN jobs_job j ON j.id = c.job_id "  # noqa: S608 (constants)
    f"WHERE j.status NOT IN {jobs_sql.FINISHED} LIMIT 1"
)

register(
    HighVolumeTable(
        RangePartitioned("jobs_jobattempt", "started_at", "month"),
        "RETENTION_JOBS_DAYS",
        days("RETENTION_JOBS_DAYS"),
        per_tenant=True,
    ),
    HighVolumeTable(
        RangePartitioned("jobs_checkpoint", "created_at", "month"),
        "RETENTION_JOBS_DAYS",
        days("RETENTION_JOBS_DAYS"),
        keep_if=_CHECKPOINT_OF_UNFINISHED_JOB,
        keep_reason="holds a checkpoint of an unfinished job",
        per_tenant=True,
    ),
    # Jobs by the month they were enqueued; a month goes once all of its jobs have finished.
    HighVolumeTable(
        RangePartitioned("jobs_job", "retention_at", "month"),
        "RETENTION_JOBS_DAYS",
        days("RETENTION_JOBS_DAYS"),
        keep_if=jobs_sql.UNFINISHED_IN_PARTITION,
        keep_reason="holds unfinished jobs (or their dead letters)",
        prepare=(jobs_sql.CARRY_FORWARD, jobs_sql.DEAD_LETTERS_OF_PARTITION),
        # Every claim is planned over all of jobs_job's partitions: as few ahead as is safe.
        ahead_setting="JOBS_PARTITIONS_AHEAD",
        # Not per tenant: a tenant's purge runs as one of its own jobs, which a drop of its leaf would take along.
    ),
)
