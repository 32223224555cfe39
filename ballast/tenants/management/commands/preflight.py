import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ballast.lib.preflight import run_checks


class Command(BaseCommand):
    help = (
        "Check a deployment end to end (configuration, roles, row-level security, migrations, Redis, outbox "
        "partitions, and what apps register). Exits 1 when any check fails."
    )
    # It reports Django's system checks itself, as one of its checks, instead of refusing to run.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help='print {"ok": ..., "checks": [{name, ok, detail}]}')
        parser.add_argument(
            "--skip-processes", action="store_true", help="leave out checks that need workers and the scheduler"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        results = run_checks(skip_processes=options["skip_processes"])
        ok = all(result.ok for result in results)
        if options["json"]:
            self.stdout.write(json.dumps({"ok": ok, "checks": [result.as_dict() for result in results]}, indent=2))
        else:
            for result in results:
                self.stdout.write(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
            failing = [result.name for result in results if not result.ok]
            self.stdout.write(f"preflight: {'all checks pass' if ok else 'failing: ' + ', '.join(failing)}")
        if not ok:
            sys.exit(1)
