"""The jobs app's operator entry points (its API endpoints and `dlq_replay`) run these action objects: registered
into jobs.operator_actions at app ready, since jobs cannot import ops."""

from __future__ import annotations

from ballast.jobs import operator_actions
from ballast.jobs.operator_actions import Caller, Done
from ballast.ops import actions


def _run(action: actions.OperatorActionBase, caller: Caller) -> Done:
    action.check_caller(caller)
    outcome = action.execute()
    return Done(outcome.message, outcome.data)


def retry_job(*, caller: Caller, job_id: int) -> Done:
    return _run(actions.RetryJob(job_id=job_id), caller)


def cancel_job(*, caller: Caller, job_id: int) -> Done:
    return _run(actions.CancelJob(job_id=job_id), caller)


def replay_dead_letters(*, caller: Caller, dead_letter_ids: list[int]) -> Done:
    return _run(actions.ReplayDeadLetters(dead_letter_ids=dead_letter_ids), caller)


def install() -> None:
    operator_actions.register(operator_actions.RETRY_JOB, retry_job)
    operator_actions.register(operator_actions.CANCEL_JOB, cancel_job)
    operator_actions.register(operator_actions.REPLAY_DEAD_LETTERS, replay_dead_letters)
