"""Partition upkeep: every declared partitioned table's partitions ahead (the periodic task lifecycle.partitions,
ballast.lifecycle.job_handlers)."""

from __future__ import annotations

from ballast.lib.partitioned_tables import tables
from ballast.lifecycle.dedicated_tenants import dedicated_tenant_ids
from ballast.lifecycle.governance import recorded_run


def ensure_all_partitions() -> list[str]:
    """This period's partition and LIFECYCLE_PARTITIONS_AHEAD more (OUTBOX_PARTITIONS_AHEAD months for the
    outbox, IDEMPOTENCY_PARTITIONS_AHEAD days for idempotency records), for every partitioned table; in a
    per-tenant table each with a leaf per dedicated tenant (lifecycle.dedicated_tenants). Safe to call twice;
    the names it created (recorded as a run of lifecycle.partitions)."""
    with recorded_run("lifecycle.partitions") as run:
        dedicated = dedicated_tenant_ids()
        for table in tables():
            run.created += table.spec.ensure(ahead=table.ahead, tenants=dedicated if table.per_tenant else ())
    return run.created
