"""manage.py tenant_resume SLUG: make a suspended tenant active again (audited)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Tenant
from ballast.tenants.selectors import tenant_by_slug
from ballast.tenants.services import change_tenant_status


class Command(BaseCommand):
    help = "Resume a suspended tenant (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["slug"])
        if tenant is None:
            raise CommandError(f"No tenant {options['slug']!r}")
        changed = change_tenant_status(
            tenant=tenant, status=Tenant.Status.ACTIVE, actor=actor_for_command("tenant_resume")
        )
        if changed:
            self.stdout.write(f"Tenant {tenant.slug} is active again: its tokens work and its jobs run.")
        else:
            self.stdout.write(f"Tenant {tenant.slug} was already active: nothing changed.")
