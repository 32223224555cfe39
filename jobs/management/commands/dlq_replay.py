from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.selectors import dead_letters_to_replay
from jobs.services import replay_dead_letter
from jobs.states import IllegalTransition
from tenants.selectors import tenant_by_slug


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
        replayed = 0
        for letter in letters:
            try:
                replay_dead_letter(dead_letter=letter, actor="cli")
                replayed += 1
            except IllegalTransition as exc:
                self.stderr.write(f"skipped dead letter {letter.pk}: {exc}")
        self.stdout.write(f"replayed {replayed} dead letter(s)")
