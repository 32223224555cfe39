"""manage.py tenant_suspend SLUG: suspend a tenant (its API tokens get 403, its jobs but maintenance wait; audited)."""

from __future__ import annotations

from ballast.tenants.management.status_command import TenantStatusCommand
from ballast.tenants.models import Tenant


class Command(TenantStatusCommand):
    help = "Suspend a tenant: its API tokens get 403 and its jobs but maintenance wait (audited)."
    status = Tenant.Status.SUSPENDED
    name = "tenant_suspend"
    changed = "is suspended: its API tokens now get 403 and its jobs (but maintenance) wait."
    unchanged = "was already suspended: nothing changed."
