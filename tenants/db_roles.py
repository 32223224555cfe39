"""Privileges of the runtime roles. The owner owns the schema; app and system get DML only."""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

MIGRATION_TABLE = "django_migrations"
# Append-only tables: runtime roles insert and read; retention is the owner's job (partition drops).
APPEND_ONLY_TABLES = ["tenants_auditentry"]


def runtime_roles() -> list[str]:
    """The login roles of the app (default) and system aliases."""
    return sorted({settings.DATABASES[alias]["USER"] for alias in ("default", "system")})


def grant_runtime_privileges(using: str = "owner", **kwargs: Any) -> None:
    """Safe to call twice. Runs before and after every migrate; the default privileges cover the tables
    that migrations (and later the scheduler's partition maintenance) create."""
    roles = sql.SQL(", ").join(sql.Identifier(role) for role in runtime_roles())
    statements = [
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {roles}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {roles}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {roles}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {roles}",
        # Runtime roles may read which migrations ran (/readyz), never record one.
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {migrations} FROM {roles}",
    ]
    connection = connections[using]
    MigrationRecorder(connection).ensure_schema()
    existing = set(connection.introspection.table_names())
    statements += [
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {{roles}}"
        for table in APPEND_ONLY_TABLES
        if table in existing
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(sql.SQL(statement).format(roles=roles, migrations=sql.Identifier(MIGRATION_TABLE)))


def on_post_migrate(sender: Any, using: str, **kwargs: Any) -> None:
    grant_runtime_privileges(using=using)


def dedicated_connection(alias: str, application_name: str) -> psycopg.Connection[Any]:
    """A psycopg connection of the alias's role outside Django's pool (autocommit), for what must hold a
    session of its own: an advisory lock, a LISTEN."""
    db = settings.DATABASES[alias]
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        autocommit=True,
        application_name=application_name,
    )
