"""Persisted alerts, rollups, and the console pages (admin entries without tables). The operator's
audit log is ballast.tenants.models.OperatorAction."""

from __future__ import annotations

from django.db import models


class Alert(models.Model):
    """open → acknowledged → resolved; snoozed until a time (still open, not shown as new)."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    rule = models.CharField(max_length=100)
    subject = models.CharField(max_length=200, blank=True, default="")  # e.g. the queue, the tenant
    tenant_id = models.BigIntegerField(null=True, blank=True)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        default_permissions = ("view",)
        indexes = [models.Index(fields=["status", "opened_at"], name="alert_status_opened")]

    def __str__(self) -> str:
        return f"alert {self.rule} {self.subject} ({self.status})"


class Queue(models.Model):
    """No table: the admin entry "Ops: queue" at /admin/ops/queue/ (ops.views). Holds the consoles' permissions."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "Can view the operator consoles"),
            ("operate_queue", "Can act on jobs and queues from the console"),
            ("operate_uploads", "Can run upload cleanups from the console"),
        ]
        db_table = "ops_queue_console_none"
        verbose_name = verbose_name_plural = "Ops: queue"

    def __str__(self) -> str:
        return "queue console"


class Uploads(models.Model):
    """No table: the admin entry "Ops: uploads" at /admin/ops/uploads/ (ops.views)."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "ops_uploads_console_none"
        verbose_name = verbose_name_plural = "Ops: uploads"

    def __str__(self) -> str:
        return "uploads console"


class MinuteRollup(models.Model):
    """Per minute, queue and tenant, written by the scheduler's leader (ops.rollups): what the trends and /metrics read,
    so no page load scans jobs_job. Percentiles are of the attempts that finished in that minute."""

    minute = models.DateTimeField()
    queue = models.CharField(max_length=50)
    tenant_id = models.BigIntegerField(default=0)
    backlog = models.PositiveIntegerField(null=True, blank=True)  # due jobs when the minute was rolled up
    finished = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    wait_p50 = models.FloatField(null=True, blank=True)
    wait_p95 = models.FloatField(null=True, blank=True)
    wait_p99 = models.FloatField(null=True, blank=True)
    run_p50 = models.FloatField(null=True, blank=True)
    run_p95 = models.FloatField(null=True, blank=True)
    run_p99 = models.FloatField(null=True, blank=True)

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["minute", "queue", "tenant_id"], name="rollup_unique_minute_queue_tenant")
        ]

    def __str__(self) -> str:
        return f"rollup {self.queue} {self.minute:%Y-%m-%d %H:%M}"


class PreflightResult(models.Model):
    """The last result of each preflight check (`manage.py preflight`), for the metrics and the governance page."""

    name = models.CharField(max_length=100, unique=True)
    ok = models.BooleanField()
    detail = models.TextField()
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'failing'}"


class Governance(models.Model):
    """No table: the admin entry "Ops: governance" at /admin/ops/governance/ (the data-governance report)."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "ops_governance_console_none"
        verbose_name = verbose_name_plural = "Ops: governance"

    def __str__(self) -> str:
        return "governance report"


class Jobs(models.Model):
    """No table: the admin entry "Ops: jobs" at /admin/ops/jobs/ (the jobs browser, ops.views)."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "ops_jobs_console_none"
        verbose_name = verbose_name_plural = "Ops: jobs"

    def __str__(self) -> str:
        return "jobs browser"


class Schedules(models.Model):
    """No table: the admin entry "Ops: schedules" at /admin/ops/schedules/ (cron schedules, ops.views)."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "ops_schedules_console_none"
        verbose_name = verbose_name_plural = "Ops: schedules"

    def __str__(self) -> str:
        return "schedules console"


class Batches(models.Model):
    """No table: the admin entry "Ops: batches" at /admin/ops/batches/ (batches and their callbacks, ops.views)."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "ops_batches_console_none"
        verbose_name = verbose_name_plural = "Ops: batches"

    def __str__(self) -> str:
        return "batches console"


class IdempotencyMinute(models.Model):
    """Per minute and tenant, what became of the keyed API requests (ops.idempotency_stats): executed, replayed,
    refused as a 422 conflict or as 409 in flight. Copied from Redis counters by the scheduler's minute rollup."""

    minute = models.DateTimeField()
    tenant_id = models.BigIntegerField()
    executed = models.PositiveIntegerField(default=0)
    replays = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    in_flight = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["minute", "tenant_id"], name="idempotency_minute_unique_minute_tenant")
        ]

    def __str__(self) -> str:
        return f"idempotency {self.tenant_id} {self.minute:%Y-%m-%d %H:%M}"


class TypeBacklog(models.Model):
    """Scheduled (future) jobs per type and tenant, as of the last minute rollup (ops.rollups): the type overview's
    "scheduled" column, which no index by type could count on page load. Replaced whole each minute."""

    job_type = models.CharField(max_length=200)
    tenant_id = models.BigIntegerField()
    scheduled = models.PositiveIntegerField(default=0)
    rolled_at = models.DateTimeField()

    class Meta:
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["job_type", "tenant_id"], name="typebacklog_unique_type_tenant")]

    def __str__(self) -> str:
        return f"{self.job_type} of tenant {self.tenant_id}: {self.scheduled} scheduled"
