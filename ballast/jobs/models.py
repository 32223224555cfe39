from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from ballast.jobs.states import JobStatus
from ballast.outbox.models import KEY_COLUMN_LENGTH
from ballast.tenants.models import TenantOwned


def new_trace_id() -> str:
    return uuid.uuid4().hex


class Job(TenantOwned):
    """The truth about one unit of background work. Redis only ever carries "run job X now".

    Range-partitioned by month on `retention_at` (real primary key (id, retention_at)); retention drops a month
    only once every job in it has finished (partitioned_tables.py). The per-tenant idempotency key cannot be a unique
    index across partitions: enqueue serialises each key on an advisory lock and looks in every partition."""

    job_type = models.CharField(max_length=100)
    queue = models.CharField(max_length=50)
    payload = models.JSONField(default=dict)
    payload_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    priority = models.IntegerField(default=0)
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    last_error = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    # NULL, not '': the unique constraint applies only to jobs that have a key.
    idempotency_key = models.CharField(max_length=KEY_COLUMN_LENGTH, null=True, blank=True)  # noqa: DJ001
    trace_id = models.CharField(max_length=64, default=new_trace_id)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    # What caused this job (an event id, or the job whose handler enqueued it), and the W3C trace it belongs to.
    causation_id = models.CharField(max_length=64, blank=True, default="")
    traceparent = models.CharField(max_length=55, blank=True, default="")
    # The id of this job's job.created event: the causation of every event about the job and from its handler.
    created_event_id = models.UUIDField(default=uuid.uuid4)
    # Lease: who runs it and until when; the token fences every write of that attempt.
    locked_by = models.CharField(max_length=200, blank=True, default="")
    locked_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The partition key: when the job was enqueued. Never updated on the hot paths (a changed key moves the row
    # to another partition); retention carries a long-unfinished job forward so that its old month can go.
    retention_at = models.DateTimeField(db_default=Now())
    # The batch this job is a member of (ballast.jobs.batches); no foreign key: jobs_job is partitioned.
    batch_id = models.BigIntegerField(null=True, blank=True)
    # The job this one runs after (it waits until that one succeeds); the parent knows it has dependants, so that
    # only a parent with some looks for them when it ends.
    depends_on_id = models.BigIntegerField(null=True, blank=True)
    has_dependants = models.BooleanField(default=False, db_default=False)

    # Not a column: enqueue() says whether this call created the job or found it by idempotency key.
    created: bool = False

    class Meta:
        constraints = [
            # A cancel is honoured when the attempt ends: a queued job never carries a pending cancel.
            models.CheckConstraint(
                condition=~Q(status="queued", cancel_requested=True), name="job_queued_not_cancelling"
            ),
        ]
        indexes = [
            # Enqueue's look-up of a key (unique by jobs.services.enqueue_many's lock, not by the index).
            models.Index(
                fields=["tenant", "idempotency_key"], condition=Q(idempotency_key__isnull=False), name="job_tenant_key"
            ),
            models.Index(fields=["tenant", "status", "created_at"], name="job_tenant_status_created"),
            models.Index(fields=["tenant", "job_type", "created_at"], name="job_tenant_type_created"),
            # The hot paths (jobs.sql): a worker's claim of the next job of one queue and tenant, the scheduler's
            # loose scan of (queue, tenant) pairs with due work, and expired leases.
            models.Index(
                fields=["queue", "tenant", "-priority", "available_at", "id"],
                condition=Q(status="queued"),
                name="job_claim",
            ),
            models.Index(fields=["queue", "tenant", "available_at"], condition=Q(status="queued"), name="job_due"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"), name="job_running_lease"),
            models.Index(fields=["tenant", "batch_id"], condition=Q(batch_id__isnull=False), name="job_tenant_batch"),
            models.Index(
                fields=["tenant", "depends_on_id"], condition=Q(depends_on_id__isnull=False), name="job_tenant_after"
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.job_type} ({self.status})"


class JobAttempt(TenantOwned):
    """One row per attempt. Append-mostly, nothing points at it: range-partitioned by month on started_at (real
    primary key (id, started_at, tenant_id)); retention drops whole months (lifecycle)."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        LOST = "lost"  # the lease expired: the worker died or hung
        CANCELLED = "cancelled"
        LEASE_LOST = "lease_lost"  # finished after its lease was taken: result discarded

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_rows", db_constraint=False)
    attempt = models.PositiveIntegerField()
    worker = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error = models.TextField(blank=True, default="")
    # The exception's class as an import path (e.g. "builtins.ValueError"): the Tasks API's TaskError.
    error_class = models.CharField(max_length=300, blank=True, default="", db_default="")
    traceback = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "job", "attempt"], name="attempt_tenant_job"),
            # The ops rollups and console read the attempts that finished in a time range.
            models.Index(fields=["finished_at"], name="attempt_finished"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of job {self.job_id}: {self.outcome}"


class Checkpoint(TenantOwned):
    # No database constraint: jobs_job is partitioned, so (id) alone is not a key a foreign key can reference.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="checkpoints", db_constraint=False)
    sequence = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField()
    state = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Partitioned by month on created_at (a unique key must hold it); the lease fences checkpoints, so
            # one job's sequences stay unique all the same.
            models.UniqueConstraint(
                fields=["tenant", "job", "sequence", "created_at"], name="checkpoint_unique_sequence"
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence} of job {self.job_id}"


class DeadLetter(TenantOwned):
    class Reason(models.TextChoices):
        EXHAUSTED = "exhausted"
        PERMANENT = "permanent"
        LEASE_EXPIRED = "lease_expired"

    class Status(models.TextChoices):
        RECORDED = "recorded"
        REPLAYED = "replayed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="dead_letters", db_constraint=False)
    job_type = models.CharField(max_length=100)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECORDED)
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="deadletter_tenant_status")]

    def __str__(self) -> str:
        return f"dead letter of job {self.job_id} ({self.reason})"


class SchedulerLeader(models.Model):
    """The scheduler leadership lease: one row (jobs.scheduler.leader)."""

    holder = models.CharField(max_length=200)
    token = models.UUIDField()
    elected_at = models.DateTimeField()
    renewed_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"scheduler leader {self.holder} until {self.expires_at}"


class Pause(models.Model):
    """A paused queue or job type (written by ops.actions): its queued jobs are not claimed; they wait."""

    class Kind(models.TextChoices):
        QUEUE = "queue"
        TYPE = "type"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=100)
    paused_by = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True, default="")
    paused_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="pause_unique_kind_name")]

    def __str__(self) -> str:
        return f"paused {self.kind} {self.name}"


class WorkerPresence(models.Model):
    """A live worker process and what it can run, refreshed by its heartbeat every JOBS_PRESENCE_SECONDS
    (jobs.worker.presence). A row not seen for three periods is a worker that is gone."""

    identity = models.CharField(max_length=200, primary_key=True)
    queues = ArrayField(models.CharField(max_length=100))
    job_types = ArrayField(models.CharField(max_length=200))
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"worker {self.identity} seen {self.seen_at}"


class BulkOperation(models.Model):
    """Retry, cancel or discard every job a filter matched at preview time (jobs.bulk). Confirmed by an operator,
    then worked through by one `ops.bulk` job per tenant, in batches, with progress here. Not tenant-owned: one
    operation spans tenants."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed"
        RUNNING = "running"
        DONE = "done"

    action = models.CharField(max_length=16)  # retry | cancel | discard
    filter = models.JSONField(default=dict)
    matched = models.JSONField(default=list)  # [[tenant_id, job_id], ...] at preview time
    count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # no longer in a state the action applies to
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_by = models.CharField(max_length=200, blank=True, default="")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ops_bulkoperation"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"bulk {self.action} of {self.count} jobs ({self.status})"


class Schedule(TenantOwned):
    """A recurring job: `job_type` (a task is the job type of its import path) with `payload`, enqueued by the
    scheduler's leader at every slot of `cron` in `timezone` (ballast.jobs.schedules). Operators' rows are
    written only through ballast.jobs.schedules; rows `declared_in_code` mirror a `cron=` declaration, are the
    platform tenant's and are read-only."""

    class Missed(models.TextChoices):
        SKIP = "skip"  # a slot the scheduler reaches too late (JOBS_CRON_GRACE_SECONDS) does not run
        RUN_ONCE = "run_once"  # the latest missed slot runs once, however late

    name = models.CharField(max_length=120)
    job_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    cron = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    missed = models.CharField(max_length=16, choices=Missed.choices, default=Missed.SKIP)
    declared_in_code = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True)  # the next slot; None while paused
    last_run_at = models.DateTimeField(null=True, blank=True)  # the slot of the last job enqueued
    last_job_id = models.BigIntegerField(null=True, blank=True)  # no foreign key: jobs_job is partitioned
    last_error = models.CharField(max_length=500, blank=True, default="")  # why the last slot enqueued nothing
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="schedule_tenant_name")]
        indexes = [
            models.Index(fields=["tenant", "next_run_at"], name="schedule_tenant_next", condition=Q(enabled=True))
        ]

    def __str__(self) -> str:
        return f"schedule {self.name} ({self.cron} {self.timezone})"


class Batch(TenantOwned):
    """A group of jobs enqueued together (ballast.jobs.batches). Each member's end is counted here in the
    transaction that writes it (jobs.transitions); the member that ends last releases the callbacks, which wait
    as jobs of their own from the batch's creation."""

    total = models.PositiveIntegerField()
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    # Waiting jobs, no foreign keys (jobs_job is partitioned): on_complete runs once every member ended,
    # on_success only when every member succeeded (else it is cancelled).
    on_complete_job_id = models.BigIntegerField(null=True, blank=True)
    on_success_job_id = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True, default="")
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="batch_tenant_created")]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.succeeded + self.failed + self.cancelled}/{self.total})"
