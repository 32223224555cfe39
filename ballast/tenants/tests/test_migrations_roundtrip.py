"""Every migration has a way back: a scratch database goes to zero for every app and up
again, and one step back and forward from the head with data present."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython, RunSQL

from ballast.jobs.tests.processes import process_env


def _dsn(alias: str, dbname: str) -> str:
    db = settings.DATABASES[alias]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{dbname}"


def _owner_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_dsn("owner", "postgres"), autocommit=True)


@pytest.fixture(scope="module")
def scratch(ballast_test_db_name: str) -> Iterator[str]:
    scratch_name = f"{ballast_test_db_name}_roundtrip"
    with _owner_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch_name}"')
    try:
        yield scratch_name
    finally:
        with _owner_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


def run_step(step: str, database: str) -> dict[str, Any]:
    env = process_env(
        POSTGRES_DSN=_dsn("default", database),
        POSTGRES_SYSTEM_DSN=_dsn("system", database),
        POSTGRES_OWNER_DSN=_dsn("owner", database),
    )
    code = f"from ballast.tenants.tests.migration_roundtrip_steps import main; main({step!r})"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("ROUNDTRIP ")]
    return json.loads(line.removeprefix("ROUNDTRIP "))


def test_every_migration_operation_declares_its_way_back() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = {"tenants", "jobs", "outbox", "webhooks", "emails", "uploads", "ops", "lifecycle"}
    missing = []
    for (app, name), migration in loader.disk_migrations.items():
        if app not in ours:
            continue
        stack = list(migration.operations)
        while stack:
            operation = stack.pop()
            stack += getattr(operation, "database_operations", [])
            if isinstance(operation, RunSQL | RunPython) and not operation.reversible:
                missing.append(f"{app}.{name}: {operation.describe()}")
            elif not getattr(operation, "reversible", True):
                missing.append(f"{app}.{name}: {operation.describe()}")
    assert missing == []


def test_a_scratch_database_goes_one_step_back_and_forth_with_data_then_to_zero_and_up_again(scratch: str) -> None:
    up = run_step("up", scratch)
    seeded = up["facts"]
    assert seeded["counts"]["tenants_tenant"] == 1 and seeded["counts"]["jobs_job"] == 1
    assert seeded["counts"]["outbox_outboxevent"] >= 1 and seeded["counts"]["tenants_auditentry"] >= 2
    assert seeded["counts"]["webhooks_webhookdelivery"] == seeded["counts"]["emails_emaildelivery"] == 1
    assert seeded["counts"]["outbox_idempotencyrecord (live)"] == 1  # and an expired one of the same key
    assert seeded["secrets"] == [up["seed"]["secret"]]

    # One step back and forward from the head, app by app, with data present: nothing is lost or garbled.
    moved = run_step("step_back_and_forth", scratch)
    multi_step = sorted(app for app, names in up["plan"].items() if len(names) > 1)
    assert sorted(moved["facts_after"]) == multi_step
    for app, after in moved["facts_after"].items():
        assert after["counts"] == seeded["counts"], app
        assert after["secrets"] == seeded["secrets"], app  # webhooks 0002 decrypts on the way back
        assert after["applied"] == seeded["applied"], app

    # To zero for every app, then up again.
    round_trip = run_step("zero_and_up", scratch)
    assert round_trip["zero"]["applied"] == 0
    assert round_trip["up"]["applied"] == seeded["applied"]
    assert round_trip["up"]["tables"] == seeded["tables"]
    assert round_trip["zero"]["tables"] < seeded["tables"]
