"""The registry of high-volume tables that are range-partitioned by time, and how long each keeps its rows.

Each app declares its own tables in its `partitioned_tables.py` (loaded with the other declarations,
ballast.lib.declarations):

    from ballast.lib.partitioned_tables import HighVolumeTable, days, register
    from ballast.lib.partitioning import RangePartitioned

    register(HighVolumeTable(RangePartitioned("jobs_jobattempt", "started_at", "month"), "RETENTION_JOBS_DAYS",
                             days("RETENTION_JOBS_DAYS"), per_tenant=True))

Partition upkeep, retention, partition health and the per-tenant rebuild (ballast.lifecycle) walk the registry in
the order of INSTALLED_APPS; the DELETE gate (ballast.lifecycle.delete_gate) guards these tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from ballast.lib.partitioning import RangePartitioned, add_months


def days(name: str) -> Callable[[date], date]:
    """Rows older than the setting `name`'s number of days may go."""

    def cutoff(today: date) -> date:
        return date.fromordinal(today.toordinal() - int(getattr(settings, name)))

    return cutoff


def ttl_plus_a_day(name: str) -> Callable[[date], date]:
    """A day partition goes once every record in it has expired: a record created on day D expires by
    D + 1 day + TTL (the setting `name`, in hours). A whole day more is kept as a margin (clock skew, a late
    in-flight request)."""

    def cutoff(today: date) -> date:
        return today - timedelta(days=math.ceil(int(getattr(settings, name)) / 24) + 1)

    return cutoff


def months(name: str) -> Callable[[date], date]:
    """Months older than the setting `name`'s number of months may go."""

    def cutoff(today: date) -> date:
        return add_months(today.replace(day=1), -int(getattr(settings, name)))

    return cutoff


@dataclass(frozen=True)
class HighVolumeTable:
    spec: RangePartitioned
    retention_setting: str
    cutoff: Callable[[date], date]  # rows older than this day may go
    keep_if: str = ""  # SQL over {partition}: a row back means the partition must stay
    keep_reason: str = ""  # what keep_if found, for the report
    # SQL run (system alias) on a partition past retention before keep_if is asked, e.g. moving out what keeps
    # it; formatted with {partition}, {start} and {end}. Never in a dry run.
    prepare: tuple[str, ...] = ()
    # Tenants with partitions of their own get a leaf in each period of this table
    # (ballast.lifecycle.dedicated_tenants); the table's unique keys must hold tenant_id.
    per_tenant: bool = False
    ahead_setting: str = "LIFECYCLE_PARTITIONS_AHEAD"  # periods kept ready ahead

    @property
    def ahead(self) -> int:
        return int(getattr(settings, self.ahead_setting))

    @property
    def table(self) -> str:
        return self.spec.table

    def retention_cutoff(self, today: date | None = None) -> date:
        return self.cutoff(today or timezone.now().date())


_tables: dict[str, HighVolumeTable] = {}


def register(*tables: HighVolumeTable) -> None:
    for table in tables:
        known = _tables.get(table.table)
        if known is not None and known != table:
            raise ValueError(f"{table.table} is declared twice, differently")
        _tables[table.table] = table


def tables() -> tuple[HighVolumeTable, ...]:
    """Every declared table, in the order the apps declared them."""
    return tuple(_tables.values())


def per_tenant_tables() -> tuple[HighVolumeTable, ...]:
    return tuple(table for table in _tables.values() if table.per_tenant)


def by_table(name: str) -> HighVolumeTable:
    try:
        return _tables[name]
    except KeyError:
        raise KeyError(f"{name} is not a declared partitioned table (ballast.lib.partitioned_tables)") from None
