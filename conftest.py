"""This repository's tests: Ballast's pytest fixtures (`ballast.pytest_plugin`: the test database created by
the schema owner so that the app and system roles and row-level security apply, `committed`, `tenant`,
`make_token`), one test database per checkout, and the private Postgres clusters fault tests restart and kill."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.conf import settings

pytest_plugins = ["ballast.pytest_plugin", "config.tests.pg_servers"]


@pytest.fixture(scope="session")
def ballast_test_db_name() -> str:
    """One test database per checkout, so two clones on one machine do not drop each other's."""
    return os.environ.get("BALLAST_TEST_DB") or (
        "test_ballast_" + hashlib.sha1(str(settings.BASE_DIR).encode()).hexdigest()[:8]  # noqa: S324
    )
