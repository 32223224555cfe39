from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.audit import actor_for_command
from ballast.tenants.services import TenantError, create_tenant


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = create_tenant(slug=options["slug"], name=options["name"], actor=actor_for_command("tenant_create"))
        except TenantError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.pk})")
