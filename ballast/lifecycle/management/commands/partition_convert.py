"""manage.py partition_convert TABLE [--column C] --plan | --backfill | --verify | --swap | --rollback."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ballast.lifecycle import convert
from ballast.lifecycle.progress import job_progress


class Command(BaseCommand):
    help = "Convert a live table to monthly range partitions: shadow, backfill job, verify, swap, rollback."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("table")
        parser.add_argument("--column", default=None, help="The time column (default: created_at, at, ...).")
        parser.add_argument("--batch", type=int, default=convert.DEFAULT_BATCH, help="Rows per id range.")
        step = parser.add_mutually_exclusive_group(required=True)
        for name in ("plan", "backfill", "verify", "swap", "rollback"):
            step.add_argument(f"--{name}", action="store_true")
        parser.add_argument("--inline", action="store_true", help="--backfill: run the job in this process.")
        parser.add_argument("--no-wait", dest="wait", action="store_false", help="--backfill: enqueue and return.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = convert.table(options["table"], options["column"])
            if options["plan"]:
                for line in convert.plan(spec):
                    self.stdout.write(line)
            elif options["backfill"]:
                self._backfill(spec, options)
            elif options["verify"]:
                differences = convert.verify(spec, batch=options["batch"])
                for difference in differences:
                    self.stdout.write(f"DIFFERS {difference}")
                if differences:
                    raise CommandError(f"{len(differences)} id range(s) differ: backfill again, then verify")
                self.stdout.write(f"{spec.name}: every id range matches (row counts and checksums).")
            elif options["swap"]:
                convert.swap(spec)
                self.stdout.write(f"Swapped: {spec.name} is partitioned; {spec.old} is read-only, kept in sync.")
            else:
                convert.rollback(spec)
                self.stdout.write(f"Rolled back: {spec.name} is the original table again; {spec.shadow} in sync.")
        except convert.ConvertError as exc:
            raise CommandError(str(exc)) from exc

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
