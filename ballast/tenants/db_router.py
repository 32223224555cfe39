"""Which role reads and writes what.

- Only the owner role changes the schema; the app and system roles never migrate.
- Django's own records of people and operators (users, groups, permissions, sessions, the admin log, content
  types) and the tenants themselves go through the system alias: the app role, which serves tenant requests
  and runs tenant handlers, has no rights on those tables at all (tenants/db_roles.py), so an injection there
  cannot read a password hash or a session key.
"""

from __future__ import annotations

from typing import Any

MIGRATION_ALIAS = "owner"
SYSTEM_ALIAS = "system"
# Apps and models whose tables only the system role may touch. Tenants are not tenant-owned rows: the app
# role gets what it needs of its tenant from the credential (read through the system alias at authentication).
SYSTEM_APPS = frozenset({"auth", "admin", "sessions", "contenttypes"})
SYSTEM_MODELS = frozenset(
    {
        "tenants.tenant",
        "jobs.workerpresence",
        # Operator-side tables: they carry a tenant_id but no row-level security, so the app role has no right
        # on them (tenants/db_roles.py); operator code and the scheduler's periodic tasks reach them here.
        "tenants.operatoraction",
        "jobs.bulkoperation",
        "ops.alert",
        "ops.minuterollup",
        "ops.idempotencyminute",
        "ops.typebacklog",
        "lifecycle.dedicatedtenant",
    }
)


def _system_only(model: type[Any]) -> bool:
    return model._meta.app_label in SYSTEM_APPS or model._meta.label_lower in SYSTEM_MODELS


class DatabaseRouter:
    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return SYSTEM_ALIAS if _system_only(model) else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return SYSTEM_ALIAS if _system_only(model) else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == MIGRATION_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # default, system and owner are three roles on one database: rows relate freely across them.
        return True
