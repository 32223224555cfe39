from typing import Any

from django.core.management.base import BaseCommand

from jobs.recovery import reap_expired_leases


class Command(BaseCommand):
    help = "One pass of lease recovery: jobs whose worker died are retried or dead-lettered."

    def handle(self, *args: Any, **options: Any) -> None:
        report = reap_expired_leases()
        self.stdout.write(
            f"reaped {report.total} job(s): {report.retried} retried, {report.dead_lettered} dead-lettered"
        )
