from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Role
from ballast.tenants.selectors import tenant_by_slug
from ballast.tenants.services import create_user_token


class Command(BaseCommand):
    help = (
        "Issue an API token for a user of a tenant (user and membership created when missing). "
        "The token is printed alone on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", default=Role.MEMBER, choices=[Role.ADMIN, Role.MEMBER, Role.VIEWER, Role.OWNER])
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}; create it with `manage.py tenant_create`.")
        issued = create_user_token(
            tenant=tenant,
            username=options["username"],
            role=Role(options["role"]),
            token_name=options["name"],
            actor=actor_for_command("token_create"),
        )
        self.stderr.write(
            f"Token {issued.token.display_prefix} for {options['username']} ({options['role']}) of {tenant.slug}:"
        )
        self.stdout.write(issued.plaintext)
