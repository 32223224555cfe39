"""manage.py tenant_suspend SLUG: suspend a tenant (its API tokens get 403, its jobs but maintenance wait; audited)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Tenant
from ballast.tenants.selectors import tenant_by_slug
from ballast.tenants.services import change_tenant_status


class Command(BaseCommand):
    help = "Suspend a tenant: its API tokens get 403 and its jobs but maintenance wait (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["slug"])
        if tenant is None:
            raise CommandError(f"No tenant {options['slug']!r}")
        changed = change_tenant_status(
            tenant=tenant, status=Tenant.Status.SUSPENDED, actor=actor_for_command("tenant_suspend")
        )
        if changed:
            self.stdout.write(
                f"Tenant {tenant.slug} is suspended: its API tokens now get 403 and its jobs (but maintenance) wait."
            )
        else:
            self.stdout.write(f"Tenant {tenant.slug} was already suspended: nothing changed.")
