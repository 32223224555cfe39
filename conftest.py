"""Test database set-up that keeps production's roles in force.

pytest-django would create and migrate the test database through `default`, the app role, which may
neither create a database nor own a table. Here the owner role creates and migrates it, and the app and
system aliases are pointed at it, so every test runs with row-level security really applied.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

# One test database per checkout, so two clones on one machine do not drop each other's.
TEST_DB_NAME = os.environ.get("BALLAST_TEST_DB") or (
    "test_ballast_" + hashlib.sha1(str(settings.BASE_DIR).encode()).hexdigest()[:8]  # noqa: S324
)
# Private Postgres clusters that fault tests restart and kill (pg_servers, pg_template, private_pg).
pytest_plugins = ["config.tests.pg_servers"]
KEEP_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _close_all() -> None:
    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment: Any, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        owner = connections["owner"]
        old_name = owner.settings_dict["NAME"]
        owner.settings_dict["TEST"]["NAME"] = TEST_DB_NAME
        _close_all()
        # Point the app and system aliases first: third-party data migrations query through `default`.
        for alias in ("default", "system"):
            connections[alias].settings_dict["NAME"] = TEST_DB_NAME
            settings.DATABASES[alias]["NAME"] = TEST_DB_NAME
        owner.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        _close_all()
    yield
    with django_db_blocker.unblock():
        _close_all()
        owner.creation.destroy_test_db(old_name, verbosity=0)


def truncate_tables() -> None:
    owner = connections["owner"]
    tables = [name for name in owner.introspection.table_names() if name not in KEEP_TABLES]
    with owner.cursor() as cursor:
        cursor.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(owner.ops.quote_name(t) for t in tables))
        )


@pytest.fixture
def committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Real commits, visible across connections and processes; every table is emptied afterwards.

    For tests about what other connections see (RLS, roles, the API's system-alias token lookup, workers).
    """
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            truncate_tables()
