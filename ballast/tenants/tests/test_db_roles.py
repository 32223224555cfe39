"""Least privilege: the app role has exactly the table rights its code needs, and the roles are checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from ballast.tenants.context import tenant_scope
from ballast.tenants.db_roles import (
    APP_ROLE_EXTRA_GRANTS,
    APPEND_ONLY_TABLES,
    RoleFacts,
    app_role_table_grants,
    grant_runtime_privileges,
    role_facts,
    role_problems,
)
from ballast.tenants.models import AuditEntry, Tenant
from ballast.tenants.owned_models import tenant_owned_models

pytestmark = pytest.mark.usefixtures("committed")

CREDENTIAL_TABLES = ["auth_user", "django_session", "django_admin_log", "auth_user_user_permissions", "auth_group"]


def _app_can(privilege: str, table: str) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(current_user, %s, %s)", [table, privilege])
        return bool(cursor.fetchone()[0])


@pytest.mark.parametrize("table", [*CREDENTIAL_TABLES, "tenants_tenant", "django_content_type"])
def test_the_app_role_cannot_read_credentials_sessions_or_operator_records(table: str) -> None:
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connections["default"].cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608 (fixed names)

    assert not any(_app_can(privilege, table) for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"))


# Sequences of the public schema first (OFFSET 0 keeps the planner from asking has_sequence_privilege about tables).
SEQUENCES = (
    "(SELECT c.oid, c.relname FROM pg_class c "
    "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace OFFSET 0)"
)


def test_the_app_role_has_no_right_on_any_sequence_and_neither_runtime_role_may_setval() -> None:
    with connections["system"].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {SEQUENCES} s WHERE has_sequence_privilege(s.oid, 'UPDATE')")  # noqa: S608
        assert cursor.fetchone()[0] == 0
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"SELECT s.relname FROM {SEQUENCES} s WHERE has_sequence_privilege(s.oid, 'UPDATE') "  # noqa: S608
            "OR has_sequence_privilege(s.oid, 'USAGE') OR has_sequence_privilege(s.oid, 'SELECT')"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT count(*) FROM pg_class WHERE relkind = 'S'")
        assert cursor.fetchone()[0] > 0  # there are sequences, so the empty list above is not vacuous


def test_the_app_role_holds_exactly_its_listed_table_rights() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = current_user AND table_schema = 'public'"
        )
        held = {(table, privilege) for table, privilege in cursor.fetchall()}
    existing = set(connections["owner"].introspection.table_names())
    expected = {
        (table, privilege.strip())
        for table, privileges in app_role_table_grants(existing).items()
        for privilege in privileges.split(",")
    }

    assert held == expected
    tenant_tables = {model._meta.db_table for model in tenant_owned_models()}
    assert {table for table, _ in held} == tenant_tables | set(APP_ROLE_EXTRA_GRANTS)
    assert not {table for table, _ in held} & {"auth_user", "django_session", "django_admin_log", "tenants_tenant"}


def test_the_audit_log_is_append_only_for_both_runtime_roles() -> None:
    tenant = Tenant.objects.create(slug="alpha", name="Alpha")
    with tenant_scope(tenant.pk):
        AuditEntry.objects.create(actor="t", action="tenant.created", target_type="tenant", target_id="1")
    for alias in ("default", "system"):
        with pytest.raises(DatabaseError, match="permission denied"), tenant_scope(tenant.pk, using=alias):
            with connections[alias].cursor() as cursor:
                cursor.execute("DELETE FROM tenants_auditentry")
    assert APPEND_ONLY_TABLES == ["tenants_auditentry"]


def test_a_right_granted_by_hand_is_taken_back_by_the_next_migrate() -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute(f'GRANT SELECT ON auth_user TO "{settings.DATABASES["default"]["USER"]}"')
    assert _app_can("SELECT", "auth_user")

    grant_runtime_privileges(using="owner")

    assert not _app_can("SELECT", "auth_user")
    assert _app_can("INSERT", "jobs_job")


def test_the_real_roles_have_no_problem() -> None:
    app, system = role_facts("default"), role_facts("system")

    assert (app.superuser, app.bypass_rls, app.tables_owned) == (False, False, 0)
    assert (system.superuser, system.bypass_rls) == (False, True)
    assert role_problems(app=app, system=system) == []


def test_an_app_role_that_owns_the_tables_or_bypasses_rls_is_named() -> None:
    # Served as the app role, the owner (owns every table) or the system role (BYPASSRLS) would escape RLS.
    as_owner = role_problems(app=role_facts("owner"), system=role_facts("system"))
    as_system = role_problems(app=role_facts("system"), system=role_facts("system"))

    assert len(as_owner) == 1 and "owns" in as_owner[0]
    assert len(as_system) == 1 and "BYPASSRLS" in as_system[0]


def test_superusers_are_refused_for_either_role() -> None:
    safe = RoleFacts(alias="default", name="app", superuser=False, bypass_rls=False, tables_owned=0)
    root = RoleFacts(alias="x", name="postgres", superuser=True, bypass_rls=True, tables_owned=0)

    assert "superuser" in " ".join(role_problems(app=root, system=safe))
    assert role_problems(app=safe, system=root) == ["the system role 'postgres' (POSTGRES_SYSTEM_DSN) is a superuser"]


PROBE = "from django.conf import settings; print(' '.join(sorted(settings.DATABASES)))"


def _procfile() -> dict[str, str]:
    lines = (settings.BASE_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _aliases_in(prefix: str, env: dict[str, str]) -> str:
    """The database aliases a process started as the Procfile starts it would have."""
    result = subprocess.run(
        f'{prefix} python manage.py shell --no-imports -c "{PROBE}"',
        shell=True,  # a fixed command behind the Procfile's own prefix
        cwd=settings.BASE_DIR,
        env={
            **{k: v for k, v in os.environ.items() if k != "POSTGRES_OWNER_DSN"},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # as `make run` sets it
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_web_and_worker_processes_run_without_the_owner_dsn_and_the_scheduler_with_it() -> None:
    procfile = _procfile()
    env = {"APP_ENV": "dev", "POSTGRES_OWNER_DSN": "postgres://ballast_owner:x@127.0.0.1:5432/ballast"}

    for process in ("web", "worker"):
        assert procfile[process].startswith("env -u POSTGRES_OWNER_DSN "), process
        assert _aliases_in("env -u POSTGRES_OWNER_DSN", env) == "default system"
    assert procfile["scheduler"].startswith("bash scripts/with-owner.sh ")
    assert _aliases_in("bash scripts/with-owner.sh", env) == "default owner system"
    assert _aliases_in("bash scripts/with-owner.sh", {"APP_ENV": "dev"}) == "default owner system"
