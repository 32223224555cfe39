import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ballast.jobs.services import EnqueueError, enqueue
from ballast.tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = "Enqueue a job for a tenant; prints the job id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("job_type")
        parser.add_argument("payload", help="JSON payload, e.g. '{\"value\": 1}'")
        parser.add_argument("--idempotency-key", default=None)
        parser.add_argument("--priority", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}")
        try:
            payload = json.loads(options["payload"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"Payload is not valid JSON: {exc}") from exc
        try:
            with transaction.atomic():
                job = enqueue(
                    tenant=tenant,
                    job_type=options["job_type"],
                    payload=payload,
                    idempotency_key=options["idempotency_key"],
                    priority=options["priority"],
                    actor="cli",
                )
        except EnqueueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(job.pk))
