"""Liveness (/healthz) and readiness (/readyz) probes.

/readyz tells anyone which components are ok and which fail, nothing more: the error texts name hosts,
roles and migrations, so only a staff session or `Authorization: Bearer $HEALTH_TOKEN` sees them, with the
answering process's connection pools (per alias: in use, idle, waiting requests).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

from ballast.lib import redis_client
from ballast.lib.db_pool import pool_status
from ballast.tenants.db_roles import runtime_role_problems


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _postgres() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis_client.client().ping()


def _migrations() -> None:
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        raise RuntimeError(f"{len(plan)} unapplied migration(s): {names}")


def _roles() -> None:
    problems = runtime_role_problems()
    if problems:
        raise RuntimeError("; ".join(problems))


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "postgres": _postgres,
    "redis": _redis,
    "migrations": _migrations,
    "roles": _roles,
}


def may_see_details(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.HEALTH_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the app role reaches Postgres and is safe, Redis answers, no unapplied migrations."""
    checks: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:  # a probe reports every failure, whatever its kind
            checks[name] = "fail"
            details[name] = f"{type(exc).__name__}: {exc}".strip()[:300]
        else:
            checks[name] = "ok"
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    if may_see_details(request):
        if details:
            body["details"] = details
        body["pools"] = [pool.as_dict() for pool in pool_status()]
    return JsonResponse(body, status=503 if failing else 200)
