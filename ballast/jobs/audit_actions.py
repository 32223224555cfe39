"""Audit actions of the jobs engine (registered here; the engine writes them, job.enqueued in raw SQL)."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "job.enqueued": "A job was created.",
        "job.retried": "A failed or cancelled job was queued again with a fresh set of attempts.",
        "ops.bulk.confirm": "An operator confirmed a bulk action over the jobs a filter matched at preview.",
        "job.discarded": "An operator discarded a queued or failed job (it will not run).",
        "job.cancelled": "A queued job was cancelled.",
        "job.cancel_requested": "A running job was asked to stop.",
        "job.replayed": "A dead letter's job was queued again.",
        "job.dlq_pending": "A job ran out of attempts (or failed permanently): dead-lettering began.",
        "job.dlq_recorded": "The job's dead letter was written.",
        "job.failed": "The job is failed for good.",
        "job.brought_forward": "A job waiting for a later time was brought forward to run now (enqueue_or_revive).",
        "job.taken_back": "A running job past its lease was taken back to run again (enqueue_or_revive).",
        "schedule.created": "A cron schedule was created.",
        "schedule.changed": "A cron schedule's expression, time zone, job or policy was changed.",
        "schedule.paused": "A cron schedule was paused: no slot is enqueued until it is resumed.",
        "schedule.resumed": "A paused cron schedule runs again from its next slot.",
        "schedule.deleted": "A cron schedule was deleted (its jobs stay).",
        "schedule.run_now": "An operator enqueued a cron schedule's job now, beside its slots.",
        "batch.enqueued": "A batch of jobs was enqueued with its callbacks.",
        "batch.cancelled": "A batch was cancelled: its queued members cancelled, its running ones asked to stop.",
        "diagnostics.chaos_step": "One step of a diagnostics.chaos job (bench/chaos.py): its checkpointed work.",
    }
)
