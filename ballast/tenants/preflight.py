"""Preflight checks of tenancy: the runtime roles, and row-level security on every tenant table."""

from __future__ import annotations

from django.db import connections

from ballast.lib.preflight import CheckFailed, preflight_check
from ballast.lib.rls import POLICY_NAME
from ballast.tenants.db_roles import role_facts, role_problems
from ballast.tenants.owned_models import tenant_owned_models

# Tables the app role must not be able to read at all (ballast.tenants.db_router sends their models to the system
# alias).
CREDENTIAL_TABLES = ("auth_user", "django_session", "django_admin_log")


@preflight_check("roles")
def roles() -> str:
    app, system = role_facts("default"), role_facts("system")
    problems = role_problems(app=app, system=system)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL "
            "AND has_table_privilege(current_user, t, 'SELECT')",
            [list(CREDENTIAL_TABLES)],
        )
        readable = [row[0] for row in cursor.fetchall()]
    if readable:
        problems.append(f"the app role {app.name!r} can read {', '.join(readable)}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return (
        f"app {app.name!r}: NOSUPERUSER NOBYPASSRLS, owns nothing, no credential tables; "
        f"system {system.name!r}: NOSUPERUSER"
    )


@preflight_check("row_level_security")
def row_level_security() -> str:
    """Every tenant table and every partition of one: RLS enabled and forced, with the tenant policy."""
    parents = sorted(model._meta.db_table for model in tenant_owned_models())
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE tables(oid) AS ("
            "  SELECT c.oid FROM pg_class c WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace"
            "  UNION SELECT i.inhrelid FROM pg_inherits i JOIN tables t ON i.inhparent = t.oid) "
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s) "
            "FROM tables JOIN pg_class c ON c.oid = tables.oid ORDER BY c.relname",
            [parents, POLICY_NAME],
        )
        rows = cursor.fetchall()
    found = {row[0] for row in rows}
    problems = [f"{table} is missing" for table in parents if table not in found]
    for table, enabled, forced, has_policy in rows:
        missing = [
            what for what, there in (("enabled", enabled), ("forced", forced), ("policy", has_policy)) if not there
        ]
        if missing:
            problems.append(f"{table}: RLS not {'/'.join(missing)}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(rows)} tables ({len(parents)} tenant tables and their partitions): enabled, forced, policy"
