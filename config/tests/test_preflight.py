"""`manage.py preflight [--json]`: what a deploy pipeline gates on. Run for real against the test database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from django.db import connections

from ballast.emails.tests.conftest import Mailbox, mailbox  # noqa: F401  (fixture)
from ballast.lib import preflight
from config.tests.processes import dsn, manage, prod_env

pytestmark = pytest.mark.usefixtures("committed")

EXPECTED = {
    "configuration",
    "postgres",
    "migrations",
    "redis",
    "roles",
    "row_level_security",
    "outbox_partitions",
    "partitions",
    "email",
}


def _ci_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    return {
        "APP_ENV": "ci",
        "POSTGRES_DSN": dsn("default"),
        "POSTGRES_SYSTEM_DSN": dsn("system"),
        "POSTGRES_OWNER_DSN": dsn("owner"),
        "REDIS_DSN": settings.REDIS_DSN,
        **extra,
    }


def _run(name: str) -> preflight.Result:
    (check,) = [check for check in preflight.registered_checks() if check.name == name]
    return preflight.run(check)


def _by_name(results: list[preflight.Result]) -> dict[str, preflight.Result]:
    return {result.name: result for result in results}


def test_preflight_json_passes_every_check_on_a_sound_deployment() -> None:
    result = manage("preflight", "--json", "--skip-processes", env=_ci_env())

    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert EXPECTED <= {check["name"] for check in report["checks"]}
    assert all(set(check) == {"name", "ok", "detail"} and check["ok"] for check in report["checks"])


def test_preflight_passes_under_production_settings_with_the_deployment_checks(
    mailbox: Mailbox,  # noqa: F811
) -> None:
    smtp = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(mailbox.port)}  # type: ignore[attr-defined]
    result = manage("preflight", "--json", "--skip-processes", env=prod_env(**smtp))

    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert "production rules and deployment checks pass" in checks["configuration"]["detail"]
    assert checks["email"]["detail"] == f"SMTP server 127.0.0.1:{mailbox.port} answers (EHLO)"  # type: ignore[attr-defined]


def test_with_redis_unreachable_preflight_exits_non_zero_naming_redis_within_its_timeouts() -> None:
    started = time.monotonic()
    result = manage("preflight", "--json", "--skip-processes", env=_ci_env(REDIS_DSN="redis://10.255.255.1:6379/0"))
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    report = json.loads(result.stdout)
    failing = [check for check in report["checks"] if not check["ok"]]
    assert [check["name"] for check in failing] == ["redis"]
    assert "Redis" in failing[0]["detail"] and "unreachable" in failing[0]["detail"]
    assert elapsed < 30  # the connect timeout (2 s) bounds it, not the kernel's (minutes)


def test_the_text_report_names_what_fails() -> None:
    result = manage("preflight", "--skip-processes", env=_ci_env(REDIS_DSN="redis://127.0.0.1:1/0"))

    assert result.returncode == 1
    assert "FAIL  redis" in result.stdout and "preflight: failing: redis" in result.stdout


@pytest.fixture
def temporary_check() -> Iterator[None]:
    preflight.registered_checks()  # every app's checks imported first, so the snapshot holds them
    before = dict(preflight._checks)
    yield
    preflight._checks.clear()
    preflight._checks.update(before)


@pytest.mark.usefixtures("temporary_check")
def test_another_app_registers_a_check_in_one_decorator_and_a_crash_is_a_failure() -> None:
    @preflight.preflight_check("workers", needs_processes=True)
    def workers() -> str:
        raise preflight.CheckFailed("no live worker listens to queue 'email'")

    @preflight.preflight_check("scheduler", needs_processes=True)
    def scheduler() -> str:
        raise ZeroDivisionError("oops")

    everything = _by_name(preflight.run_checks())
    before_start = _by_name(preflight.run_checks(skip_processes=True))

    assert (everything["workers"].ok, everything["workers"].detail) == (
        False,
        "no live worker listens to queue 'email'",
    )
    assert everything["scheduler"] == preflight.Result("scheduler", False, "ZeroDivisionError: oops")
    assert "workers" not in before_start and before_start["redis"].ok


def test_a_tenant_table_whose_rls_is_not_forced_fails_the_check_by_name() -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute("ALTER TABLE webhooks_webhookdelivery NO FORCE ROW LEVEL SECURITY")
    try:
        result = _run("row_level_security")
    finally:
        with connections["owner"].cursor() as cursor:
            cursor.execute("ALTER TABLE webhooks_webhookdelivery FORCE ROW LEVEL SECURITY")

    assert not result.ok
    assert result.detail == "webhooks_webhookdelivery: RLS not forced"


def test_a_partition_without_rls_fails_the_check_by_name() -> None:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE outbox_outboxevent_p209901 PARTITION OF outbox_outboxevent "
            "FOR VALUES FROM ('2099-01-01') TO ('2099-02-01')"
        )
    try:
        result = _run("row_level_security")
    finally:
        with connections["owner"].cursor() as cursor:
            cursor.execute("DROP TABLE outbox_outboxevent_p209901")

    assert not result.ok
    assert result.detail == "outbox_outboxevent_p209901: RLS not enabled/forced/policy"


def test_missing_outbox_partitions_ahead_fail_the_check(settings) -> None:
    assert _run("outbox_partitions").ok
    settings.OUTBOX_PARTITIONS_AHEAD = 12

    result = _run("outbox_partitions")

    assert not result.ok and "missing outbox_outboxevent_p" in result.detail
