from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.tenants.models import Tenant
from ballast.tenants.selectors import tenant_by_slug
from ballast.uploads import cleanup, scheduling


class Command(BaseCommand):
    help = (
        "Clean up abandoned uploads, orphaned objects and the expired trash. By default enqueues the cleanup jobs "
        "(or brings a stuck one forward); --now runs the passes in this process; --dry-run only reports."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="one tenant (default: every tenant)")
        parser.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
        parser.add_argument("--now", action="store_true", help="run here and now instead of enqueueing jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_ids = None
        slugs = dict(Tenant.objects.using("system").values_list("id", "slug"))
        if options["tenant"]:
            tenant = tenant_by_slug(options["tenant"])
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}")
            tenant_ids = [tenant.pk]
        if options["dry_run"] or options["now"]:
            ids = tenant_ids or sorted(slugs)
            for tenant_id in ids:
                for run in (
                    cleanup.clean_intents(tenant_id=tenant_id, dry_run=options["dry_run"], actor="command"),
                    cleanup.purge_trash(tenant_id=tenant_id, dry_run=options["dry_run"], actor="command"),
                ):
                    prefix = "would free" if run.dry_run else "freed"
                    self.stdout.write(
                        f"tenant {slugs.get(tenant_id, tenant_id)} {run.kind}: {run.intents_cleaned} intents cleaned, "
                        f"{run.orphans_deleted} orphans, {run.documents_purged} documents purged, "
                        f"{prefix} {run.bytes_freed} bytes in {run.objects_deleted} objects, {len(run.errors)} errors"
                    )
            return
        for scheduled in scheduling.schedule_cleanups(tenant_ids=tenant_ids, actor="command"):
            job = scheduled.job
            self.stdout.write(
                f"tenant {slugs.get(scheduled.tenant_id, scheduled.tenant_id)} {job.job_type}: job {job.pk} "
                f"{'enqueued' if job.created else 'already there'} ({job.status}, runs at {job.available_at:%H:%M:%S})"
            )
