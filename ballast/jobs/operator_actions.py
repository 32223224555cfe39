"""Operator actions whose entry points live in this app (the API's cancel, retry and dead-letter replay endpoints,
and `manage.py dlq_replay`) are carried out by the ops app's action objects (ops.actions), the same ones the
console uses, so every path writes the same registered audit action. ops is the top layer and this app cannot
import it: ops registers a runner per action name here at app ready (ops.jobs_wiring). An unregistered name
raises: there is no second, unaudited path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RETRY_JOB = "job.retry"
CANCEL_JOB = "job.cancel"
REPLAY_DEAD_LETTERS = "dead_letters.replay"


class ActionRefused(ValueError):
    """The action does not apply (wrong state); the message says why. Nothing was written."""


class TargetNotFound(ActionRefused):
    """No such target, or not one the caller may see (another tenant's)."""


@dataclass(frozen=True)
class Caller:
    """Who acts, as the entry point authenticated them: an API credential (`tenant_id` and its membership `role`:
    the action touches nothing of another tenant) or a shell operator (`tenant_id` None: whoever may run
    manage.py). `actor` is what the audit rows name."""

    actor: str
    tenant_id: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class Done:
    message: str  # what happened, in a sentence
    data: dict[str, Any]


Runner = Callable[..., Done]  # runner(*, caller, **target)
_runners: dict[str, Runner] = {}


def register(name: str, runner: Runner) -> None:
    """Safe to call twice with the same runner."""
    if _runners.get(name, runner) is not runner:
        raise RuntimeError(f"operator action {name!r} registered twice")
    _runners[name] = runner


def run(name: str, *, caller: Caller, **target: Any) -> Done:
    """Check the caller and execute the registered action; raises ActionRefused, TargetNotFound, or Django's
    PermissionDenied when the caller may not act."""
    runner = _runners.get(name)
    if runner is None:
        raise RuntimeError(f"no operator action {name!r} is registered (is the ops app installed?)")
    return runner(caller=caller, **target)
