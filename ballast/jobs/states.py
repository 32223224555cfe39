"""The job state machine, in one place. Every status write goes through jobs.transitions."""

from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"  # available_at may lie in the future: scheduled, or backing off before a retry
    WAITING = "waiting"  # a batch's callback until its last member ends (never claimed: the claim reads queued)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DLQ_PENDING = "dlq_pending"
    DLQ_RECORDED = "dlq_recorded"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = JobStatus

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    S.WAITING: frozenset({S.QUEUED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.QUEUED, S.DLQ_PENDING, S.CANCELLED}),
    S.DLQ_PENDING: frozenset({S.DLQ_RECORDED}),
    S.DLQ_RECORDED: frozenset({S.FAILED}),
    S.FAILED: frozenset({S.QUEUED}),  # retry / dead-letter replay
    S.CANCELLED: frozenset({S.QUEUED}),  # retry
    S.SUCCEEDED: frozenset(),
}

TERMINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})


class IllegalTransition(ValueError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"A job cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> None:
    if JobStatus(target) not in ALLOWED_TRANSITIONS[JobStatus(current)]:
        raise IllegalTransition(current, target)
