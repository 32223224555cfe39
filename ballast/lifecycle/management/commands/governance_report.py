"""manage.py governance_report [--days 7] [--json]: the data-governance figures of the last days."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.lifecycle.governance import governance_report, report_text


class Command(BaseCommand):
    help = (
        "Partitions created, dropped and hit by queries, cleanup times, table sizes and bloat with their trend, "
        "lock waits and deadlocks, over the last --days days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="the window, in days (default 7)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days < 1 or days > 366:
            raise CommandError(f"--days must be between 1 and 366, not {days}")
        report = governance_report(days=days)
        self.stdout.write(json.dumps(report, indent=2) if options["json"] else report_text(report), ending="")
        if options["json"]:
            self.stdout.write("")
