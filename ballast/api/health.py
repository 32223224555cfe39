"""Liveness (/healthz) and readiness (/readyz) probes.

/readyz tells anyone which components are ok and which fail, nothing more: the error texts name hosts,
roles and migrations, so only a staff session or `Authorization: Bearer $HEALTH_TOKEN` sees them, with the
answering process's connection pools (per alias: in use, idle, waiting requests).

An anonymous probe is cheap and throttled: it runs the cheap checks (one SELECT 1, one PING) and reuses the costly
ones (migrations, roles) for HEALTH_CACHE_SECONDS; over HEALTH_ANONYMOUS_RATE per client address it gets 429
(the throttle fails open when Redis is down, as the API's does). A staff session or the health token gets every
check run now, with the error texts, and is never throttled. They also get `diagnostics`: the preflight checks
marked `in_readiness` (the SMTP server, ballast.emails.preflight), cached for HEALTH_CACHE_SECONDS because they talk
to outside services; a failing diagnostic is reported, not a reason to leave the load balancer.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

from ballast.api import throttling
from ballast.lib import preflight, redis_client
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


# Run at every probe; the others are reused by anonymous probes for HEALTH_CACHE_SECONDS.
CHEAP_CHECKS = frozenset({"postgres", "redis"})
_cache_lock = threading.Lock()
_cached: dict[str, tuple[float, str | None]] = {}  # check -> (monotonic time, error text or None)
_cached_diagnostics: dict[str, tuple[float, preflight.Result]] = {}


def forget_cached_checks() -> None:
    with _cache_lock:
        _cached.clear()
        _cached_diagnostics.clear()


def _diagnostics() -> dict[str, dict[str, object]]:
    """The readiness-marked preflight checks, each run at most once per HEALTH_CACHE_SECONDS per process."""
    report: dict[str, dict[str, object]] = {}
    for check in preflight.readiness_checks():
        now = time.monotonic()
        with _cache_lock:
            cached = _cached_diagnostics.get(check.name)
        if cached is None or now - cached[0] >= settings.HEALTH_CACHE_SECONDS:
            cached = (now, preflight.run(check))
            with _cache_lock:
                _cached_diagnostics[check.name] = cached
        report[check.name] = {"ok": cached[1].ok, "detail": cached[1].detail}
    return report


def may_see_details(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.HEALTH_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def _run(name: str, check: Callable[[], None]) -> str | None:
    """The check's error text, or None when it passes."""
    try:
        check()
    except Exception as exc:  # a probe reports every failure, whatever its kind
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _result(name: str, check: Callable[[], None], *, fresh: bool) -> str | None:
    now = time.monotonic()
    if not fresh and name not in CHEAP_CHECKS:
        with _cache_lock:
            cached = _cached.get(name)
        if cached is not None and now - cached[0] < settings.HEALTH_CACHE_SECONDS:
            return cached[1]
    error = _run(name, check)
    if name not in CHEAP_CHECKS:
        with _cache_lock:
            _cached[name] = (now, error)
    return error


def _throttled(request: HttpRequest) -> JsonResponse | None:
    rate = str(settings.HEALTH_ANONYMOUS_RATE or "")
    if not rate:
        return None
    address = throttling.client_address(request)
    wait = throttling.hit(f"{throttling.KEY_PREFIX}readyz:ip:{address}", rate)
    if wait is None:
        return None
    response = JsonResponse({"status": "throttled"}, status=429)
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the app role reaches Postgres and is safe, Redis answers, no unapplied migrations."""
    full = may_see_details(request)
    if not full:
        refused = _throttled(request)
        if refused is not None:
            return refused
    checks: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        error = _result(name, check, fresh=full)
        checks[name] = "ok" if error is None else "fail"
        if error is not None:
            details[name] = error
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["failing"] = failing
    if full:
        if details:
            body["details"] = details
        body["pools"] = [pool.as_dict() for pool in pool_status()]
        body["diagnostics"] = _diagnostics()
    return JsonResponse(body, status=503 if failing else 200)
