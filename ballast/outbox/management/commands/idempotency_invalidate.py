from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.outbox.idempotency_records import invalidate
from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import ApiToken
from ballast.tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = "Forget an Idempotency-Key, so that the next request with it executes anew."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--key", required=True)
        parser.add_argument("--token-prefix", default=None, help="only this credential's key (bl_xxxxxxxxxxxx)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}")
        token_id = None
        if options["token_prefix"]:
            prefix = options["token_prefix"].removeprefix("bl_")
            token = ApiToken.objects.unscoped().filter(tenant=tenant, prefix=prefix).first()
            if token is None:
                raise CommandError(f"No token {options['token_prefix']!r} in tenant {tenant.slug}")
            token_id = token.pk
        removed = invalidate(
            tenant_id=tenant.pk,
            key=options["key"],
            token_id=token_id,
            actor=actor_for_command("idempotency_invalidate"),
        )
        self.stdout.write(f"invalidated {removed} record(s) of key {options['key']!r}")
