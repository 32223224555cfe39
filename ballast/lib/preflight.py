"""`manage.py preflight`: the checks a deploy pipeline gates on, and the registry apps add theirs to.

An app declares checks in its own `preflight.py` (loaded with the other declarations, ballast.lib.declarations):

    from ballast.lib.preflight import CheckFailed, preflight_check

    @preflight_check("workers", needs_processes=True)
    def live_worker_per_queue() -> str:
        ...
        raise CheckFailed("no live worker listens to queue 'email'")  # or
        return "4 workers, every queue covered"

A check returns a short detail when it passes and raises CheckFailed (or anything else) when it does not;
it bounds its own waiting (timeouts). `needs_processes=True` marks checks that need the worker and scheduler
processes running (`preflight --skip-processes` leaves them out, e.g. right after migrate).
`on_results(func)` registers a listener told every run's results (ops keeps the last result of each check for
its metrics and console); a listener that fails is logged and never fails the run.
`in_readiness=True` marks checks that /readyz also runs for staff and HEALTH_TOKEN holders (never for
anonymous probes), reporting them without changing the probe's status (ballast.api.health).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core import checks as django_checks
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

REDIS_TIMEOUT_SECONDS = 2.0
logger = logging.getLogger(__name__)


class CheckFailed(Exception):
    """A preflight check did not pass; the message says what is wrong."""


@dataclass(frozen=True)
class Check:
    name: str
    func: Callable[[], str]
    needs_processes: bool = False
    in_readiness: bool = False


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_checks: dict[str, Check] = {}
_listeners: list[Callable[[list[Result]], None]] = []


def on_results(listener: Callable[[list[Result]], None]) -> Callable[[list[Result]], None]:
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def preflight_check(
    name: str, *, needs_processes: bool = False, in_readiness: bool = False
) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(func: Callable[[], str]) -> Callable[[], str]:
        _checks[name] = Check(name=name, func=func, needs_processes=needs_processes, in_readiness=in_readiness)
        return func

    return register


def registered_checks() -> list[Check]:
    return list(_checks.values())


def run(check: Check) -> Result:
    try:
        detail = check.func()
    except CheckFailed as exc:
        return Result(check.name, False, str(exc))
    except Exception as exc:  # a check that crashes has failed; say how
        return Result(check.name, False, f"{type(exc).__name__}: {exc}"[:500])
    return Result(check.name, True, detail)


def readiness_checks() -> list[Check]:
    return [check for check in registered_checks() if check.in_readiness]


def run_checks(*, skip_processes: bool = False) -> list[Result]:
    results = [run(check) for check in registered_checks() if not (skip_processes and check.needs_processes)]
    for listener in _listeners:
        try:
            listener(results)
        except Exception:  # e.g. before migrate, or with Postgres down: the run's own checks say so
            logger.warning("preflight: a results listener failed", exc_info=True)
    return results


# ------------------------------------------------------------------------------------------- built-in checks


@preflight_check("configuration")
def configuration() -> str:
    """The settings loaded (so APP_ENV's refusal rules passed) and Django's checks, with the deployment
    checks in prod, report nothing at warning level or above."""
    from ballast.lib.settings_safety import configuration_problems

    problems = configuration_problems({name: getattr(settings, name) for name in dir(settings) if name.isupper()})
    messages = django_checks.run_checks(include_deployment_checks=settings.APP_ENV == "prod")
    serious = [m for m in messages if m.level >= django_checks.WARNING]
    problems += [f"{m.id}: {m.msg}" for m in serious]
    if problems:
        raise CheckFailed(f"APP_ENV={settings.APP_ENV}: " + "; ".join(problems))
    rules = "production rules and deployment checks pass" if settings.APP_ENV == "prod" else "system checks pass"
    return f"APP_ENV={settings.APP_ENV}: {rules}"


@preflight_check("postgres")
def postgres() -> str:
    for alias in ("default", "system"):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    return "the app and system roles connect"


@preflight_check("migrations")
def migrations() -> str:
    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        raise CheckFailed(f"{len(plan)} unapplied migration(s): {names}")
    return "every migration is applied"


@preflight_check("redis")
def redis() -> str:
    from redis.exceptions import RedisError

    from ballast.lib import redis_client

    client = redis_client.probe(REDIS_TIMEOUT_SECONDS)
    where = redis_client.describe()
    try:
        client.ping()
    except RedisError as exc:
        raise CheckFailed(f"Redis at {where} is unreachable ({type(exc).__name__}: {exc})") from None
    finally:
        client.close()
    return f"Redis at {where} answers"
