"""What tenant_suspend and tenant_resume share: find the tenant by slug, change its status (audited), say so."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Tenant
from ballast.tenants.selectors import tenant_by_slug
from ballast.tenants.services import change_tenant_status


class TenantStatusCommand(BaseCommand):
    status: ClassVar[Tenant.Status]
    name: ClassVar[str]
    changed: ClassVar[str]  # what happened, after "Tenant <slug> "
    unchanged: ClassVar[str]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["slug"])
        if tenant is None:
            raise CommandError(f"No tenant {options['slug']!r}")
        changed = change_tenant_status(tenant=tenant, status=self.status, actor=actor_for_command(self.name))
        self.stdout.write(f"Tenant {tenant.slug} {self.changed if changed else self.unchanged}")
