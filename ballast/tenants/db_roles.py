"""Privileges and attributes of the runtime roles.

- owner: owns the schema; `manage.py migrate` and partition maintenance.
- app (`default`): serves tenant requests and runs tenant handlers. Exactly the rights that code needs:
  DML on tenant-owned tables (forced row-level security applies), INSERT and SELECT only on the audit log,
  SELECT on django_migrations (readiness). Nothing on the operator-side tables that carry a tenant without
  row-level security (the operator log, alerts, rollups, bulk operations, dedicated tenants: the system alias
  only, tenants.db_router.SYSTEM_MODELS), nothing on users, sessions, the admin log or any other table,
  no sequence rights (identity columns need none), no default privileges on tables created later.
- system: BYPASSRLS, for code that must cross tenants, the admin, and Django's auth and sessions
  (ballast.tenants.db_router). DML on every table, sequences USAGE and SELECT (never UPDATE, so never setval).

Grants are re-applied by every migrate (before, and after through post_migrate), from scratch: what an
older release granted and this one no longer needs is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

MIGRATION_TABLE = "django_migrations"
# Append-only tables: runtime roles insert and read; retention is the owner's job (partition drops).
APPEND_ONLY_TABLES = ["tenants_auditentry"]
# Tables beyond the tenant-owned ones that the app role's code reads or writes, and how.
APP_ROLE_EXTRA_GRANTS: dict[str, str] = {
    MIGRATION_TABLE: "SELECT",  # /readyz and preflight: which migrations ran
    # Workers read which queues and types an operator paused; the pause action writes it with its row.
    "jobs_pause": "SELECT, INSERT, UPDATE, DELETE",
}
TENANT_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def runtime_roles() -> list[str]:
    """The login roles of the app (default) and system aliases."""
    return sorted({settings.DATABASES[alias]["USER"] for alias in ("default", "system")})


def app_role_table_grants(existing: set[str]) -> dict[str, str]:
    """{table: privileges} for the app role: every tenant-owned table that exists, plus the listed extras."""
    from ballast.tenants.owned_models import tenant_owned_models

    tables = [model._meta.db_table for model in tenant_owned_models()]
    grants = {table: "SELECT, INSERT" if table in APPEND_ONLY_TABLES else TENANT_TABLE_PRIVILEGES for table in tables}
    grants.update(APP_ROLE_EXTRA_GRANTS)
    return {table: privileges for table, privileges in grants.items() if table in existing}


def grant_runtime_privileges(using: str = "owner", **kwargs: Any) -> None:
    """Safe to call twice. Runs before and after every migrate, in one transaction."""
    app = sql.Identifier(settings.DATABASES["default"]["USER"])
    system = sql.Identifier(settings.DATABASES["system"]["USER"])
    both = sql.SQL(", ").join(sql.Identifier(role) for role in runtime_roles())
    connection = connections[using]
    MigrationRecorder(connection).ensure_schema()
    existing = set(connection.introspection.table_names())
    statements: list[sql.Composable] = [
        # The app role: start from nothing, then exactly its list.
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(app),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(app),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {}").format(app),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {}").format(app),
        # The system role: DML everywhere, now and for tables created later; sequences without UPDATE.
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(system),
        sql.SQL("REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA public FROM {}").format(system),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(system),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(system),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE UPDATE ON SEQUENCES FROM {}").format(system),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}").format(system),
        # Runtime roles may read which migrations ran, never record one.
        sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(MIGRATION_TABLE), both),
    ]
    statements += [
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), both)
        for table in APPEND_ONLY_TABLES
        if table in existing
    ]
    statements += [
        sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privileges), sql.Identifier(table), app)
        for table, privileges in sorted(app_role_table_grants(existing).items())
    ]
    with transaction.atomic(using=using), connection.cursor() as cursor:  # no moment without the grants
        for statement in statements:
            cursor.execute(statement)


def on_post_migrate(sender: Any, using: str, **kwargs: Any) -> None:
    grant_runtime_privileges(using=using)


@dataclass(frozen=True)
class RoleFacts:
    """What the server says about the role an alias logs in as."""

    alias: str
    name: str
    superuser: bool
    bypass_rls: bool
    tables_owned: int  # relations owned by the role or by a role whose rights it has


def role_facts(alias: str) -> RoleFacts:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls, "
            "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            " AND pg_has_role(r.oid, c.relowner, 'USAGE')) "
            "FROM pg_roles r WHERE r.rolname = current_user"
        )
        name, superuser, bypass_rls, owned = cursor.fetchone()
    return RoleFacts(alias=alias, name=name, superuser=superuser, bypass_rls=bypass_rls, tables_owned=int(owned))


def role_problems(*, app: RoleFacts, system: RoleFacts) -> list[str]:
    """What is unsafe about the runtime roles: the app role must be NOSUPERUSER NOBYPASSRLS and own no table
    (row-level security binds neither a superuser, nor a BYPASSRLS role, nor a table's owner without FORCE);
    the system role must not be a superuser."""
    problems = []
    if app.superuser:
        problems.append(f"the app role {app.name!r} (POSTGRES_DSN) is a superuser")
    if app.bypass_rls:
        problems.append(f"the app role {app.name!r} (POSTGRES_DSN) has BYPASSRLS")
    if app.tables_owned:
        problems.append(
            f"the app role {app.name!r} (POSTGRES_DSN) owns {app.tables_owned} table(s) or has an owner's rights"
        )
    if system.superuser:
        problems.append(f"the system role {system.name!r} (POSTGRES_SYSTEM_DSN) is a superuser")
    return problems


def runtime_role_problems() -> list[str]:
    return role_problems(app=role_facts("default"), system=role_facts("system"))


def assert_safe_runtime_roles() -> None:
    """Raises ImproperlyConfigured when the runtime roles are unsafe (production start-up)."""
    problems = runtime_role_problems()
    if problems:
        raise ImproperlyConfigured("Refusing to start with APP_ENV=prod: " + "; ".join(problems))


def dedicated_connection(alias: str, application_name: str) -> psycopg.Connection[Any]:
    """A psycopg connection of the alias's role outside Django's pool (autocommit), for what must hold a
    session of its own: a LISTEN. TCP keepalives and a connect timeout: a session cut off by a partition is
    noticed within seconds, not hours."""
    db = settings.DATABASES[alias]
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        autocommit=True,
        application_name=application_name,
        connect_timeout=5,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )
