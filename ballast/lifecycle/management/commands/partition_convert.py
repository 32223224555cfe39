"""manage.py partition_convert TABLE [--column C] --plan | --backfill | --verify | --swap | --rollback
[--confirm TABLE]. --backfill, --swap and --rollback run DDL: through scripts/with-owner.sh. --swap and
--rollback ask for the table's name again (--confirm, or a prompt on a terminal)."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ballast.lib.owner_role import owner_configured, owner_hint
from ballast.lifecycle import convert
from ballast.lifecycle.progress import job_progress

STEPS = ("plan", "backfill", "verify", "swap", "rollback")
DDL_STEPS = ("backfill", "swap", "rollback")
CONFIRMED_STEPS = ("swap", "rollback")


class Command(BaseCommand):
    help = "Convert a live table to monthly range partitions: shadow, backfill job, verify, swap, rollback."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("table")
        parser.add_argument("--column", default=None, help="The time column (default: created_at, at, ...).")
        parser.add_argument("--batch", type=int, default=convert.DEFAULT_BATCH, help="Rows per id range.")
        step = parser.add_mutually_exclusive_group(required=True)
        for name in STEPS:
            step.add_argument(f"--{name}", action="store_true")
        parser.add_argument("--inline", action="store_true", help="--backfill: run the job in this process.")
        parser.add_argument("--no-wait", dest="wait", action="store_false", help="--backfill: enqueue and return.")
        parser.add_argument("--confirm", metavar="TABLE", help="--swap, --rollback: the table's name again.")

    def handle(self, *args: Any, **options: Any) -> None:
        step = next(name for name in STEPS if options[name])
        try:
            spec = convert.table(options["table"], options["column"])
            if step == "plan":
                for line in convert.plan(spec):
                    self.stdout.write(line)
                if not owner_configured():
                    hint = owner_hint(f"partition_convert {spec.name} --backfill")
                    self.stdout.write(f"The real run would refuse: --backfill, --swap and --rollback: each {hint}")
                return
            if step == "backfill":
                convert.refuse_partitioned(spec)
            elif step == "swap":
                convert.check_swap(spec)
            elif step == "rollback":
                convert.check_rollback(spec)
            if step in DDL_STEPS and not owner_configured():
                confirm = f" --confirm {spec.name}" if step in CONFIRMED_STEPS else ""
                raise CommandError(f"--{step} {owner_hint(f'partition_convert {spec.name} --{step}{confirm}')}")
            if step in CONFIRMED_STEPS:
                self._confirm(spec, step, options["confirm"])
            if step == "backfill":
                self._backfill(spec, options)
            elif step == "verify":
                differences = convert.verify(spec, batch=options["batch"])
                for difference in differences:
                    self.stdout.write(f"DIFFERS {difference}")
                if differences:
                    raise CommandError(f"{len(differences)} id range(s) differ: backfill again, then verify")
                self.stdout.write(f"{spec.name}: every id range matches (row counts and checksums).")
            elif step == "swap":
                convert.swap(spec)
                self.stdout.write(f"Swapped: {spec.name} is partitioned; {spec.old} is read-only, kept in sync.")
            else:
                convert.rollback(spec)
                self.stdout.write(f"Rolled back: {spec.name} is the original table again; {spec.shadow} in sync.")
        except convert.ConvertError as exc:
            raise CommandError(str(exc)) from exc

    def _confirm(self, spec: convert.Table, step: str, given: str | None) -> None:
        """The table's name again, from --confirm or typed at a prompt; CommandError unless it matches."""
        if given is None:
            if not sys.stdin.isatty():
                raise CommandError(f"--{step} asks for the table's name again: add --confirm {spec.name}")
            given = input(f"--{step} renames {spec.name} under a lock. Type the table's name to go on: ").strip()
        if given != spec.name:
            raise CommandError(f"--confirm {given!r} does not match {spec.name!r}: nothing was done")

    def _backfill(self, spec: convert.Table, options: dict[str, Any]) -> None:
        import time

        from ballast.jobs.states import TERMINAL

        job_id = convert.start_backfill(spec, batch=options["batch"])
        self.stdout.write(f"Shadow {spec.shadow} ready; backfill job {job_id} enqueued.")
        if options["inline"]:
            from ballast.jobs.worker.run import run_now

            run_now(job_id)
        elif not options["wait"]:
            return
        while (progress := job_progress(job_id)).status not in TERMINAL:
            time.sleep(1)
        if progress.status != "succeeded":
            raise CommandError(f"Backfill job {job_id} ended {progress.status}: {progress.error}")
        self.stdout.write(f"Backfill job {job_id} succeeded: {progress.checkpoint}")
