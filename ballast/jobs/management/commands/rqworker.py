"""`manage.py rqworker`: django-rq's command, with `--concurrency N` for Ballast's worker (jobs.worker.rq). It takes
Ballast's queue names (all of them, in the workers' order, when none is named) and listens to their RQ queues,
whatever JOBS_RQ_QUEUE_NAMES calls them in Redis."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError
from django_rq.management.commands import rqworker

from ballast.jobs import policy
from ballast.jobs.worker.rq import BallastWorker


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError("must be at least 1")
    return number


class Command(rqworker.Command):
    help = (
        "Runs a Ballast worker on the queues named (default: all the workers' queues); --concurrency N runs N "
        "wake-ups at once."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--concurrency",
            type=_positive,
            default=None,
            help="Wake-ups this process runs at once, each in a thread of its own (default: JOBS_WORKER_CONCURRENCY)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        unknown = [name for name in args if name not in policy.QUEUE_ORDER]
        if unknown:
            raise CommandError(
                f"No queue {', '.join(map(repr, unknown))}: the workers' queues are {', '.join(policy.QUEUE_ORDER)}"
            )
        args = tuple(policy.rq_name(name) for name in (args or policy.QUEUE_ORDER))
        concurrency = options.pop("concurrency", None)
        if concurrency is not None and not options.get("worker_class"):
            options["worker_class"] = BallastWorker.with_concurrency(concurrency)
        super().handle(*args, **options)
