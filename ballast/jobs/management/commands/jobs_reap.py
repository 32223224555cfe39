from typing import Any

from django.core.management.base import BaseCommand

from ballast.jobs.scheduler.rescue import rescue_expired_leases


class Command(BaseCommand):
    help = "One pass of lease rescue: jobs whose worker died are retried, cancelled or dead-lettered."

    def handle(self, *args: Any, **options: Any) -> None:
        report = rescue_expired_leases()
        self.stdout.write(
            f"rescued {report.total} job(s): {report.retried} retried, {report.dead_lettered} dead-lettered, "
            f"{report.cancelled} cancelled"
        )
