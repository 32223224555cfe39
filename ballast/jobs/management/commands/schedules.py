"""Operators' cron schedules from a shell: thin over ballast.jobs.schedules, which audits each change with this
shell user as its actor (the console's and the API's path)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.jobs import schedules
from ballast.jobs.models import Job, Schedule
from ballast.jobs.selectors import schedules_for_operators
from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Tenant
from ballast.tenants.selectors import tenant_by_slug


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


class Command(BaseCommand):
    help = "List, create, pause, resume, delete and run now operators' cron schedules."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        listing = verbs.add_parser("list", help="every schedule, soonest next run first")
        listing.add_argument("--tenant", default=None, help="only this tenant's (slug)")
        create = verbs.add_parser("create", help="a new schedule; prints its id")
        owner = create.add_mutually_exclusive_group(required=True)
        owner.add_argument("--tenant", default=None, help="tenant slug")
        owner.add_argument(
            "--platform", action="store_true", help="the platform tenant's (LIFECYCLE_MAINTENANCE_TENANT)"
        )
        create.add_argument("--job-type", required=True)
        create.add_argument("--cron", required=True, help="five fields, e.g. '0 3 * * *'")
        create.add_argument("--timezone", default="UTC", help="an IANA zone, e.g. Europe/Berlin")
        create.add_argument("--payload", default="{}", help="JSON payload, e.g. '{\"value\": 1}'")
        create.add_argument("--missed", default=Schedule.Missed.SKIP, choices=schedules.MISSED)
        create.add_argument("--name", default=None, help="unique within the tenant; default '<job type> <cron>'")
        for verb, text in [
            ("pause", "no slot runs until resumed"),
            ("resume", "runs again from the next slot after now"),
            ("delete", "the schedule goes, its jobs stay"),
            ("run-now", "one job of the schedule now; prints its id"),
        ]:
            verbs.add_parser(verb, help=text).add_argument("id", type=int, help="schedule id")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = actor_for_command("schedules")
        verb = options["verb"]
        try:
            if verb == "list":
                self._list(options["tenant"])
            elif verb == "create":
                self._create(options, actor)
            elif verb == "pause":
                schedule = schedules.pause_schedule(schedule_id=options["id"], actor=actor)
                self.stdout.write(f"schedule {schedule.pk} ({schedule.name}) is paused")
            elif verb == "resume":
                schedule = schedules.resume_schedule(schedule_id=options["id"], actor=actor)
                self.stdout.write(f"schedule {schedule.pk} ({schedule.name}) runs from {_when(schedule.next_run_at)}")
            elif verb == "delete":
                schedules.delete_schedule(schedule_id=options["id"], actor=actor)
                self.stdout.write(f"schedule {options['id']} is deleted")
            elif verb == "run-now":
                job = schedules.run_schedule_now(schedule_id=options["id"], actor=actor)
                self.stdout.write(str(job.pk))
        except schedules.ScheduleError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, slug: str | None) -> None:
        tenant_id = self._tenant(slug).pk if slug else None
        rows = schedules_for_operators(tenant_id=tenant_id)
        slugs = dict(Tenant.objects.using("system").values_list("pk", "slug"))
        statuses = dict(
            Job.objects.unscoped()
            .filter(pk__in=[row.last_job_id for row in rows if row.last_job_id])
            .values_list("pk", "status")
        )
        for row in rows:
            state = "paused" if not row.enabled else "enabled"
            origin = " (code)" if row.declared_in_code else ""
            last = f"{_when(row.last_run_at)} {statuses.get(row.last_job_id, '')}".rstrip()
            self.stdout.write(
                f"{row.pk}\t{slugs.get(row.tenant_id, row.tenant_id)}\t{row.name}{origin}\t{row.job_type}\t"
                f"{row.cron} {row.timezone}\t{state}\tnext {_when(row.next_run_at)}\tlast {last}"
            )
        self.stdout.write(f"{len(rows)} schedule(s)")

    def _create(self, options: dict[str, Any], actor: str) -> None:
        schedule = schedules.create_operator_schedule(
            tenant_slug=None if options["platform"] else options["tenant"],
            job_type=options["job_type"],
            expression=options["cron"],
            timezone=options["timezone"],
            payload_json=options["payload"],
            missed=options["missed"],
            name=options["name"] or "",
            actor=actor,
        )
        self.stdout.write(str(schedule.pk))

    def _tenant(self, slug: str) -> Tenant:
        tenant = tenant_by_slug(slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}")
        return tenant
