from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ballast.tenants.audit import actor_for_command
from ballast.tenants.services import bootstrap_dev_data


class Command(BaseCommand):
    help = "dev/ci only, safe to run twice: tenants acme and globex, an admin superuser, fresh tokens printed."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.APP_ENV not in ("dev", "ci"):
            raise CommandError(f"bootstrap_dev refuses to run with APP_ENV={settings.APP_ENV}")
        result = bootstrap_dev_data(actor=actor_for_command("bootstrap_dev"))
        self.stdout.write(
            f"Admin: http://127.0.0.1:8000/admin/  user {result.admin_username}  password {result.admin_password}"
        )
        for line in result.tokens:
            self.stdout.write(line)
