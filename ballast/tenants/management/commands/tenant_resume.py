"""manage.py tenant_resume SLUG: make a suspended tenant active again (audited)."""

from __future__ import annotations

from ballast.tenants.management.status_command import TenantStatusCommand
from ballast.tenants.models import Tenant


class Command(TenantStatusCommand):
    help = "Resume a suspended tenant (audited)."
    status = Tenant.Status.ACTIVE
    name = "tenant_resume"
    changed = "is active again: its tokens work and its jobs run."
    unchanged = "was already active: nothing changed."
