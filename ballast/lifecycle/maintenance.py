"""Scheduled partition upkeep, as periodic jobs the scheduler's leader runs (the owner's DSN): partitions ahead,
retention."""

from __future__ import annotations

from datetime import timedelta

from ballast.jobs.scheduler.periodic import periodic
from ballast.lifecycle.dedicated_tenants import dedicated_tenant_ids
from ballast.lifecycle.retention import apply_retention
from ballast.lifecycle.tables import TABLES


def ensure_all_partitions() -> list[str]:
    """This period's partition and LIFECYCLE_PARTITIONS_AHEAD more (OUTBOX_PARTITIONS_AHEAD months for the
    outbox, IDEMPOTENCY_PARTITIONS_AHEAD days for idempotency records), for every partitioned table; in a
    per-tenant table each with a leaf per dedicated tenant (lifecycle.dedicated_tenants). Safe to call twice;
    the names it created."""
    created: list[str] = []
    dedicated = dedicated_tenant_ids()
    for table in TABLES:
        created += table.spec.ensure(ahead=table.ahead, tenants=dedicated if table.per_tenant else ())
    return created


@periodic("lifecycle.partitions", every=timedelta(hours=1), requires_owner=True)
def maintain_partitions() -> None:
    ensure_all_partitions()


@periodic("lifecycle.retention", every=timedelta(hours=1), requires_owner=True)
def retention() -> None:
    apply_retention()
