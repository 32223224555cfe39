"""`manage.py migrate` runs as the schema owner: the app and system roles may not change the schema."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS

from ballast.lib.owner_role import owner_hint
from ballast.tenants.db_roles import grant_runtime_privileges
from ballast.tenants.db_router import MIGRATION_ALIAS


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        if options["database"] == DEFAULT_DB_ALIAS:
            options["database"] = MIGRATION_ALIAS
        if options["database"] not in settings.DATABASES:
            raise CommandError(f"migrate {owner_hint('migrate')} (or `make migrate`)")
        # Before any table exists: data migrations of third-party apps query through the runtime roles.
        grant_runtime_privileges(using=options["database"])
        super().handle(*args, **options)
