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
