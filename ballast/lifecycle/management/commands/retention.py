"""manage.py retention [--dry-run] [--json]: drop whole partitions past their table's retention (as the owner)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.lifecycle.retention import RetentionRefused, apply_retention


class Command(BaseCommand):
    help = (
        "Detach and drop partitions whose rows are all past retention (RETENTION_* settings); "
        "a month of jobs loses its dead letters first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list what would be dropped; change nothing")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = apply_retention(dry_run=options["dry_run"])
        except RetentionRefused as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        if not report.decisions:
            self.stdout.write("Nothing is past retention.")
        for d in report.decisions:
            self.stdout.write(f"{d.action:>8}  {d.partition}  [{d.start} .. {d.end})  {d.rows} rows")
        for refusal in report.refusals:
            self.stdout.write(f"The real run would refuse: {refusal}")
