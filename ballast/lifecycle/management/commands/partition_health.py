"""manage.py partition_health [--json]: what is wrong with the partitioned tables; exit 1 on any finding."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ballast.lifecycle.health import check_health


class Command(BaseCommand):
    help = "Missing partitions, rows in a default partition, partitions past retention, bloat, missing indexes, RLS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report = check_health()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            for table, count in report.tables.items():
                self.stdout.write(f"{table}: {count} partitions")
            for f in report.findings:
                self.stdout.write(f"{f.kind}: {f.partition}: {f.detail}")
            self.stdout.write("healthy" if report.healthy else f"{len(report.findings)} finding(s)")
        if not report.healthy:
            sys.exit(1)
