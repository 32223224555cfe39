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
from django.db import connections

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


def truncate_tables() -> None:
    """Empty every table but KEEP_TABLES, as the owner (TRUNCATE is not the app role's to run)."""
    owner = connections["owner"]
    tables = [name for name in owner.introspection.table_names() if name not in KEEP_TABLES]
    with owner.cursor() as cursor:
        cursor.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(owner.ops.quote_name(t) for t in tables))
        )


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
