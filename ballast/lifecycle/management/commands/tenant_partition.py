"""manage.py tenant_partition SLUG [--release] [--batch N] [--execute]: give a tenant partitions of its own in
every per-tenant table (or take them back with --release). Without --execute, prints per table and period what
would move and changes nothing. DDL: run through scripts/with-owner.sh."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ballast.lifecycle import dedicated_tenants
from ballast.tenants.audit import actor_for_command
from ballast.tenants.models import Tenant


class Command(BaseCommand):
    help = "Give a tenant partitions of its own (dry run unless --execute); --release takes them back."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--release", action="store_true", help="Merge its rows back into the shared leaves.")
        parser.add_argument(
            "--batch", type=int, default=dedicated_tenants.COPY_BATCH, help="Rows per copy transaction."
        )
        parser.add_argument("--execute", action="store_true", help="Really do it (otherwise: the plan only).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.using(dedicated_tenants.SYSTEM).filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['slug']!r}")
        service = dedicated_tenants.release if options["release"] else dedicated_tenants.dedicate
        verb = "release" if options["release"] else "dedicate"
        command_line = f"tenant_partition {tenant.slug}{' --release' if options['release'] else ''} --execute"
        refusals = dedicated_tenants.refusals(command_line=command_line)
        if options["execute"] and refusals:
            raise CommandError("; ".join(refusals))
        self.stdout.write(f"Partitions of tenant {tenant.slug} (id {tenant.pk}): {verb}")

        def show(move: dedicated_tenants.PeriodMove) -> None:
            self.stdout.write(
                f"  {move.table} {move.partition}: {move.tenant_rows} rows of the tenant, "
                f"{move.rows} rows copied: {move.action}"
                if move.action != "in shape"
                else f"  {move.table} {move.partition}: {move.tenant_rows} rows of the tenant: in shape"
            )

        try:
            moves = service(
                tenant=tenant,
                actor=actor_for_command("tenant_partition"),
                execute=options["execute"],
                batch=options["batch"],
                on_period=show,
            )
        except dedicated_tenants.PartitioningRefused as exc:
            raise CommandError(str(exc)) from exc
        if not options["execute"]:
            for refusal in refusals:
                self.stdout.write(f"The real run would refuse: {refusal}")
            self.stdout.write("Dry run: nothing was changed. Add --execute (through scripts/with-owner.sh).")
            return
        rebuilt = sum(1 for move in moves if move.action == "rebuilt")
        self.stdout.write(f"Done: {rebuilt} periods rebuilt, {len(moves) - rebuilt} already in shape.")
