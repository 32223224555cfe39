"""`manage.py migrate` runs as the schema owner: the app and system roles may not change the schema."""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS

from config.db_router import MIGRATION_ALIAS
from tenants.db_roles import grant_runtime_privileges


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        if options["database"] == DEFAULT_DB_ALIAS:
            options["database"] = MIGRATION_ALIAS
        # Before any table exists: data migrations of third-party apps query through the app role.
        grant_runtime_privileges(using=options["database"])
        super().handle(*args, **options)
