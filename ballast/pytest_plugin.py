"""Ballast's pytest fixtures, for a project's tests against the real database with its roles in force.

pytest-django creates and migrates the test database through `default`; under Ballast that is the app role,
which may neither create a database nor own a table. These fixtures create and migrate it as the schema owner
(the `owner` alias, so the tests need the owner's DSN) and point the app and system aliases at it, so every
test runs with row-level security really applied. Load them from the project's root `conftest.py`:

    pytest_plugins = ["ballast.pytest_plugin"]

- `committed`: real commits, visible to other connections and to `ballast.jobs.testing.run_due_jobs()`
  (a claim sees only committed rows); every table is emptied afterwards.
- `tenant`: a committed tenant, slug `acme`.
- `make_token`: `make_token(tenant, role=Role.MEMBER)` returns a new API token's plaintext.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction

from ballast.tenants.models import Role, Tenant
from ballast.tenants.services import create_tenant, create_user_token

# Tables whose rows the test database keeps between tests: what `migrate` wrote and nothing else changes.
KEEP_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
TokenMaker = Callable[..., str]


def close_all_connections() -> None:
    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


# Emptying the tables after each test must be quick. TRUNCATE writes new files for a table, its partitions and
# indexes, and cascades to every table that references it (a tenant's is referenced by all the partitioned
# ones): about 300 ms a test. So the tables a test wrote are found first, by one query, and their few rows are
# deleted (by the system role, past row-level security, in one transaction: Django's foreign keys are
# deferred); their identity sequences then restart. A table with many rows, or one the system role may not
# read or delete from, is truncated.
_TABLES = """
    SELECT c.relname,
        has_table_privilege(%(system)s, c.oid, 'SELECT') AND has_table_privilege(%(system)s, c.oid, 'DELETE'),
        ARRAY(SELECT format('%%I', s.sequencename) FROM pg_depend d
              JOIN pg_class seq ON seq.oid = d.objid AND seq.relkind = 'S'
              JOIN pg_sequences s ON s.schemaname = n.nspname AND s.sequencename = seq.relname
              WHERE d.classid = 'pg_class'::regclass AND d.refobjid = c.oid AND s.last_value IS NOT NULL)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND c.relname <> ALL(%(keep)s)
"""
MAX_DELETED_ROWS = 5000


def truncate_tables() -> None:
    """Empty every table a test may have written to and restart its identity; KEEP_TABLES keep their rows."""
    owner, system = connections["owner"], connections["system"]
    quote = system.ops.quote_name
    with owner.cursor() as cursor:  # the owner may read every sequence's last value
        cursor.execute(_TABLES, {"system": system.settings_dict["USER"], "keep": sorted(KEEP_TABLES)})
        tables = cursor.fetchall()
    truncated = {name for name, deletable, _ in tables if not deletable}
    deletable = [name for name, may, _ in tables if may]
    rows: dict[str, int] = {}
    if deletable:
        with system.cursor() as cursor:
            cursor.execute(
                " UNION ALL ".join(
                    f"SELECT %s, (SELECT count(*) FROM (SELECT FROM {quote(name)} LIMIT {MAX_DELETED_ROWS + 1}) _)"  # noqa: S608  (catalogue names, quoted)
                    for name in deletable
                ),
                deletable,
            )
            rows = {name: count for name, count in cursor.fetchall() if count}
    truncated |= {name for name, count in rows.items() if count > MAX_DELETED_ROWS}
    with owner.cursor() as cursor:
        if truncated:
            cursor.execute("TRUNCATE {} CASCADE".format(", ".join(quote(name) for name in sorted(truncated))))
    with transaction.atomic(using="system"), system.cursor() as cursor:
        for name in sorted(rows.keys() - truncated):
            cursor.execute(f"DELETE FROM {quote(name)}")  # noqa: S608  (a catalogue name, quoted)
    with owner.cursor() as cursor:
        for _, _, sequences in tables:
            for sequence in sequences:
                cursor.execute(f"ALTER SEQUENCE {sequence} RESTART")


@pytest.fixture(scope="session")
def ballast_test_db_name() -> str:
    """The test database's name; override it to keep two checkouts on one server apart."""
    return "test_" + str(connections["owner"].settings_dict["NAME"])


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment: Any, django_db_blocker: Any, ballast_test_db_name: str) -> Iterator[None]:
    if "owner" not in settings.DATABASES:
        raise pytest.UsageError(
            "Ballast's tests create the test database as the schema owner: "
            "set the owner's DSN (POSTGRES_OWNER_DSN) so that DATABASES has an 'owner' alias"
        )
    with django_db_blocker.unblock():
        owner = connections["owner"]
        old_name = owner.settings_dict["NAME"]
        owner.settings_dict["TEST"]["NAME"] = ballast_test_db_name
        close_all_connections()
        # Point the app and system aliases first: third-party data migrations query through `default`.
        for alias in ("default", "system"):
            connections[alias].settings_dict["NAME"] = ballast_test_db_name
            settings.DATABASES[alias]["NAME"] = ballast_test_db_name
        owner.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        close_all_connections()
    yield
    with django_db_blocker.unblock():
        close_all_connections()
        owner.creation.destroy_test_db(old_name, verbosity=0)


@pytest.fixture
def committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Real commits, visible across connections and processes; every table is emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            truncate_tables()


@pytest.fixture
def tenant(committed: None) -> Tenant:
    return create_tenant(slug="acme", name="Acme Corp")


@pytest.fixture
def make_token(committed: None) -> TokenMaker:
    numbers = count()

    def make(tenant: Tenant, role: Role = Role.MEMBER) -> str:
        username = f"{tenant.slug}-{role}-{next(numbers)}"
        return create_user_token(tenant=tenant, username=username, role=role).plaintext

    return make
