"""Which tenants have partitions of their own (lifecycle.dedicated_tenants). Not tenant data: an operator's decision
about a tenant, read by partition maintenance (owner) and the purge (system), so no row-level security."""

from __future__ import annotations

from django.db import models

from ballast.tenants.models import Tenant


class DedicatedTenant(models.Model):
    """A tenant whose rows live in leaves of their own in every per-tenant partitioned table."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="dedicated_partitions")
    since = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"dedicated partitions of tenant {self.tenant_id}"


class MaintenanceRun(models.Model):
    """One run of a data-lifecycle duty (partition upkeep, retention): when, how long, which partitions it created
    or dropped. Written by the duty itself (lifecycle.governance.record_run); read by the governance report."""

    task = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    created = models.JSONField(default=list)  # partition names
    dropped = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["started_at"], name="lifecycle_run_started_idx")]

    def __str__(self) -> str:
        return f"{self.task} at {self.started_at:%Y-%m-%d %H:%M}"


class TableSizeSnapshot(models.Model):
    """A day's sizes of one high-volume table, summed over its partitions, and the database's lock figures that day:
    the bloat trend and the deadlocks of the governance report. One row per table and day
    (the periodic task lifecycle.table_sizes)."""

    day = models.DateField()
    table = models.CharField(max_length=100)
    total_bytes = models.BigIntegerField()
    index_bytes = models.BigIntegerField()
    live_tuples = models.BigIntegerField()
    dead_tuples = models.BigIntegerField()
    deadlocks = models.BigIntegerField()  # pg_stat_database.deadlocks, cumulative since the statistics reset
    waiting_locks = models.IntegerField()  # lock requests not granted when the snapshot was taken

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "table"], name="lifecycle_size_one_per_day")]

    def __str__(self) -> str:
        return f"{self.table} on {self.day}"
