"""Table conversion (lifecycle/convert.py): which tenant's job list holds the cross-tenant backfill jobs."""

from __future__ import annotations

from config.settings.env import env

__all__ = ["LIFECYCLE_MAINTENANCE_TENANT"]

# The slug of an operators' tenant: the backfill job of partition_convert is filed under it (every job has a
# tenant); it copies rows of every tenant through the system role.
LIFECYCLE_MAINTENANCE_TENANT: str = env.str("LIFECYCLE_MAINTENANCE_TENANT", default="ops")
