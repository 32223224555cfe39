"""manage.py tenant_purge --tenant SLUG --confirm-tenant SLUG --scope all|jobs,events,... [--mode delete|partition]
[--execute [--inline | --no-wait]]: without --execute, prints the plan and what the real run would refuse, and
changes nothing; with it, refuses before its first write when anything is missing."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ballast.jobs.states import TERMINAL
from ballast.lib.batched_delete import DEFAULT_BATCH
from ballast.lifecycle import purge
from ballast.lifecycle.progress import job_progress
from ballast.tenants.audit import actor_for_command


class Command(BaseCommand):
    help = "Purge a suspended tenant's data (dry run unless --execute)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--confirm-tenant", required=True, help="The same slug again.")
        parser.add_argument(
            "--scope", required=True, help=f"Comma-separated, or {purge.ALL}: {', '.join(purge.all_scopes())}"
        )
        parser.add_argument("--mode", choices=purge.MODES, default="delete")
        parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
        parser.add_argument("--execute", action="store_true", help="Really purge (otherwise: the plan only).")
        parser.add_argument("--inline", action="store_true", help="Run the purge job in this process (run_now).")
        parser.add_argument("--no-wait", dest="wait", action="store_false", help="Enqueue and return.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = purge.parse_scopes(options["scope"])
            tenant = purge.named_tenant(slug=options["tenant"], confirm_slug=options["confirm_tenant"])
            plan = purge.plan(tenant=tenant, scopes=scopes, mode=options["mode"])
        except (purge.PurgeError, purge.dedicated_tenants.NoDedicatedPartitions) as exc:
            raise CommandError(str(exc)) from exc
        command_line = (
            f"tenant_purge --tenant {tenant.slug} --confirm-tenant {tenant.slug} --scope {options['scope']} "
            f"--mode {options['mode']} --execute --inline"
        )
        refusals = purge.refusals(
            tenant=tenant, scopes=scopes, mode=options["mode"], inline=options["inline"], command_line=command_line
        )
        if options["execute"] and refusals:
            raise CommandError("; ".join(refusals))
        for line in plan.lines():
            self.stdout.write(line)
        if not options["execute"]:
            for refusal in refusals:
                self.stdout.write(f"The real run would refuse: {refusal}")
            self.stdout.write("Dry run: nothing was changed. Add --execute to purge.")
            return
        job_id = purge.start_purge(
            tenant=tenant,
            scopes=scopes,
            mode=options["mode"],
            batch=options["batch"],
            actor=actor_for_command("tenant_purge"),
        )
        self.stdout.write(f"Purge job {job_id} enqueued (lifecycle.tenant_purge, queue maintenance).")
        if options["inline"]:
            from ballast.jobs.worker.run import run_now

            run_now(job_id)
        elif not options["wait"]:
            return
        self._follow(job_id)

    def _follow(self, job_id: int) -> None:
        shown = None
        while True:
            progress = job_progress(job_id)
            if progress.checkpoint != shown and progress.checkpoint is not None:
                shown = progress.checkpoint
                deleted = sum(int(n) for n in shown.get("deleted", {}).values())
                self.stdout.write(
                    f"  progress: {deleted} rows, {shown.get('objects', 0)} objects, done {shown.get('done', [])}"
                )
            if progress.status in TERMINAL:
                break
            time.sleep(1)
        if progress.status != "succeeded":
            raise CommandError(f"Purge job {job_id} ended {progress.status}: {progress.error}")
        self.stdout.write(f"Purge job {job_id} succeeded.")
