"""Partitions of one tenant's own (an isolation tier for large or noisy tenants, and a purge by DROP).

Not built yet: no tenant has partitions of its own, so `tenant_purge --mode partition` refuses with a clear
error and `--mode delete` (bounded batches) is the way. The two names below are what the purge calls."""

from __future__ import annotations


class NoDedicatedPartitions(RuntimeError):
    """The tenant has no partitions of its own: purge with --mode delete."""


def tenant_partitions(tenant_id: int) -> list[str]:
    """The partitions that hold only this tenant's rows."""
    raise NoDedicatedPartitions(
        f"Tenant {tenant_id} has no partitions of its own (per-tenant partitions are not built yet); use --mode delete"
    )


def drop_tenant_partitions(tenant_id: int, *, execute: bool) -> list[str]:
    """Detach and drop the tenant's own partitions (only list them when not `execute`)."""
    return tenant_partitions(tenant_id)
