from collections.abc import Iterator
from typing import Any, cast

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
def without_owner() -> Iterator[None]:
    """This process as a web or worker process is, or a command not started through scripts/with-owner.sh: no
    owner alias. Request it after the fixtures that write (their teardown empties tables as the owner)."""
    saved = connections.settings.pop("owner")
    opened = cast(Any, connections)._connections  # this thread's open connections, by alias
    held = getattr(opened, "owner", None)
    if held is not None:
        delattr(opened, "owner")
    try:
        yield
    finally:
        connections.settings["owner"] = saved
        if held is not None:
            opened.owner = held


@pytest.fixture
def planted() -> Iterator[list[str]]:
    """Partitions and indexes a test plants; dropped afterwards (the test database outlives the test)."""
    statements: list[str] = []
    yield statements
    for statement in reversed(statements):
        owner_sql(statement)
