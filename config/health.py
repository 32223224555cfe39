"""Liveness (/healthz) and readiness (/readyz) probes."""

from __future__ import annotations

from collections.abc import Callable

import django_rq
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _postgres() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    django_rq.get_connection("default").ping()


def _migrations() -> None:
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        raise RuntimeError(f"{len(plan)} unapplied migration(s): {names}")


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "postgres": _postgres,
    "redis": _redis,
    "migrations": _migrations,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the app role reaches Postgres, Redis answers, no unapplied migrations."""
    checks: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:  # a probe reports every failure, whatever its kind
            checks[name] = f"error: {type(exc).__name__}: {exc}".strip()[:300]
        else:
            checks[name] = "ok"
    failing = [name for name, result in checks.items() if result != "ok"]
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing, "checks": checks}, status=503)
    return JsonResponse({"status": "ready", "checks": checks})
