"""The tasks of docs/first-job.md."""

from __future__ import annotations

from django_tasks import task


@task
def add(a: int, b: int) -> int:
    return a + b


@task(max_attempts=1)
def fail() -> None:
    raise ValueError("examples.tasks.fail always fails")
