"""Run one operator action from the shell, as a named staff user (checked and audited like the console):

manage.py ops_action pause --as alice --kind type --target reports.build --reason "bad deploy"
manage.py ops_action run_now --as alice --job-type diagnostics.echo --tenant acme --max-jobs 20
manage.py ops_action cleanup --as alice --tenant acme --now
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.ops import actions


def build(name: str, options: dict[str, Any]) -> actions.OperatorActionBase:
    builders = {
        "retry": lambda: actions.RetryJob(job_id=options["job_id"] or 0),
        "cancel": lambda: actions.CancelJob(job_id=options["job_id"] or 0),
        "discard": lambda: actions.DiscardJob(job_id=options["job_id"] or 0),
        "replay": lambda: actions.ReplayDeadLetters(dead_letter_ids=options["dead_letter"] or []),
        "run_now": lambda: actions.RunNow(
            job_type=options["job_type"] or "", tenant=options["tenant"], max_jobs=options["max_jobs"]
        ),
        "pause": lambda: actions.PauseJobs(
            kind=options["kind"], target=options["target"] or "", reason=options["reason"]
        ),
        "resume": lambda: actions.ResumeJobs(kind=options["kind"], target=options["target"] or ""),
        "cleanup": lambda: actions.EnqueueCleanup(
            tenant=options["tenant"] or "",
            job_type=options["job_type"] or actions.CLEANUP_TYPES[0],
            run_now=options["now"],
        ),
        "acknowledge": lambda: actions.AcknowledgeAlert(alert_id=options["alert_id"] or 0),
        "snooze": lambda: actions.SnoozeAlert(alert_id=options["alert_id"] or 0, minutes=options["minutes"]),
        "resolve": lambda: actions.ResolveAlert(alert_id=options["alert_id"] or 0),
    }
    return builders[name]()


class Command(BaseCommand):
    help = "Run one operator action (ops.actions) as a staff user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=[
                "retry", "cancel", "discard", "replay", "run_now", "pause", "resume", "cleanup",
                "acknowledge", "snooze", "resolve",
            ],
        )  # fmt: skip
        parser.add_argument("--as", dest="username", required=True, help="the staff user acting")
        parser.add_argument("--job-id", type=int)
        parser.add_argument("--dead-letter", type=int, action="append")
        parser.add_argument("--job-type")
        parser.add_argument("--tenant")
        parser.add_argument("--max-jobs", type=int, default=10)
        parser.add_argument("--kind", choices=["type", "queue"], default="type")
        parser.add_argument("--target")
        parser.add_argument("--reason", default="")
        parser.add_argument("--now", action="store_true", help="cleanup: run it now in this process")
        parser.add_argument("--alert-id", type=int)
        parser.add_argument("--minutes", type=int, default=60)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        action = build(options["action"], options)
        try:
            action.check(user)
            outcome = action.execute()
        except (actions.ActionForbidden, actions.ActionRefused) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(outcome.message)
