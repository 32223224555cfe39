from typing import Any

from django.core.management.base import BaseCommand

from ballast.lib.encryption import rotate_stored_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret at rest with the first FIELD_ENCRYPTION_KEY. Rotation: put the new key first, "
        "run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for column, rows in rotate_stored_secrets().items():
            self.stdout.write(f"{column}: {rows} row(s) re-encrypted")
