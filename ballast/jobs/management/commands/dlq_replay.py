from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.jobs import actions
from ballast.jobs.selectors import dead_letters_to_replay
from ballast.tenants.audit import actor_for_command
from ballast.tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = "Replay a tenant's recorded dead letters (a dry run unless --confirm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--job-type", default=None)
        parser.add_argument("--all", action="store_true", help="replay every job type (required without --job-type)")
        parser.add_argument("--confirm", action="store_true", help="really replay; without it, only list")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}")
        if not options["job_type"] and not options["all"]:
            raise CommandError("Name a --job-type, or say --all")
        letters = dead_letters_to_replay(tenant_id=tenant.pk, job_type=options["job_type"])
        if not options["confirm"]:
            for letter in letters:
                self.stdout.write(f"would replay dead letter {letter.pk} (job {letter.job_id}, {letter.job_type})")
            self.stdout.write(f"{len(letters)} dead letter(s); add --confirm to replay them")
            return
        if not letters:
            self.stdout.write("0 dead letter(s) to replay")
            return
        # The same operation as the console's and the API's, as this shell user (whoever may run manage.py).
        operator = actions.Operator(actor=actor_for_command("dlq_replay"))
        try:
            done = actions.replay_dead_letters(by=operator, dead_letter_ids=[letter.pk for letter in letters])
        except actions.ActionRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"replayed {len(done.data['replayed'])} dead letter(s) as {operator.actor}")
