"""Only the owner role changes the schema; the app and system roles never migrate."""

from __future__ import annotations

from typing import Any

MIGRATION_ALIAS = "owner"


class MigrateAsOwnerRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == MIGRATION_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # default, system and owner are three roles on one database: rows relate freely across them.
        return True
