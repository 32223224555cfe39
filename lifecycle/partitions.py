"""Placeholder until H2's lifecycle/partitions.py lands (that file wins at merge): tenant purge's
`--mode partition` needs dedicated tenant partitions (`manage.py tenant_partition`), which this tree lacks."""

from __future__ import annotations


class NoDedicatedPartitions(RuntimeError):
    """The tenant has no partitions of its own: run tenant_partition first, or purge with --mode delete."""


def tenant_partitions(tenant_id: int) -> list[str]:
    """The partitions that hold only this tenant's rows."""
    raise NoDedicatedPartitions(
        f"Tenant {tenant_id} has no dedicated partitions; run `manage.py tenant_partition` or use --mode delete"
    )


def drop_tenant_partitions(tenant_id: int, *, execute: bool) -> list[str]:
    """Detach and drop the tenant's own partitions (only list them when not `execute`)."""
    return tenant_partitions(tenant_id)
