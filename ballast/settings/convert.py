"""Table conversion (lifecycle/convert.py): which tenant's job list holds the cross-tenant backfill jobs."""

from __future__ import annotations

from ballast.settings.environment import env

__all__ = ["LIFECYCLE_MAINTENANCE_TENANT"]

# The slug of the operators' tenant that platform jobs are filed under (every job has a tenant): the periodic
# maintenance jobs (the scheduler creates the tenant on first use) and partition_convert's backfill job, which
# copies rows of every tenant through the system role.
LIFECYCLE_MAINTENANCE_TENANT: str = env.str("LIFECYCLE_MAINTENANCE_TENANT", default="ops")
