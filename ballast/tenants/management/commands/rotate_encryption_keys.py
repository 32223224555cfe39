from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ballast.lib.encryption import UndecryptableSecret, refuse_undecryptable, rotate_stored_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret at rest with the first FIELD_ENCRYPTION_KEY. Rotation: put the new key first, "
        "run this, then remove the old key. Refuses, changing nothing, when a stored secret decrypts with no key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only check that every stored secret decrypts")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["dry_run"]:
                refuse_undecryptable()
                self.stdout.write("Every stored secret decrypts: a rotation would succeed. Nothing was changed.")
                return
            done = rotate_stored_secrets()
        except UndecryptableSecret as exc:
            raise CommandError(str(exc)) from exc
        for column, rows in done.items():
            self.stdout.write(f"{column}: {rows} row(s) re-encrypted")
