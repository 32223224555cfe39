from collections.abc import Iterator

import pytest
from django.db import connections

from ballast.jobs.tests.conftest import processes, redis  # noqa: F401  (fixtures)
from ballast.tenants.models import Tenant


def owner_sql(*statements: str, alias: str = "owner") -> None:
    with connections[alias].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def tenant(committed: None) -> Tenant:
    return Tenant.objects.using("system").create(slug="acme", name="Acme")


@pytest.fixture
def planted() -> Iterator[list[str]]:
    """Partitions and indexes a test plants; dropped afterwards (the test database outlives the test)."""
    statements: list[str] = []
    yield statements
    for statement in reversed(statements):
        owner_sql(statement)
