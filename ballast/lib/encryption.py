"""Secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under MultiFernet key rotation.

`FIELD_ENCRYPTION_KEY` holds comma-separated Fernet keys, newest first (settings.FIELD_ENCRYPTION_KEYS):
values are encrypted with the first and decrypted with any. Rotation: put a new key first, run
`manage.py rotate_encryption_keys` (re-encrypts every encrypted column with it), then drop the old key.
A value no key decrypts raises: a wrong or missing key fails loudly instead of signing with garbage.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class UndecryptableSecret(RuntimeError):
    """A stored secret that no configured key decrypts."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set: secrets at rest cannot be encrypted")
    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> MultiFernet:
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _keys().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "A stored secret does not decrypt with any FIELD_ENCRYPTION_KEY (a key was dropped too early?)"
        ) from None


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key."""
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret("A stored secret does not decrypt with any FIELD_ENCRYPTION_KEY") from None


def is_encrypted(value: str) -> bool:
    try:
        _keys().decrypt(value.encode())
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField[Any, Any]):
    """Plaintext in Python, a Fernet token in the database. Not for lookups: each encryption differs."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return None if value is None else encrypt(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every EncryptedTextField of an installed model."""
    from django.apps import apps

    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def undecryptable_secrets(*, using: str = "system") -> dict[str, list[int]]:
    """{"table.column": ids} of the stored secrets no configured key decrypts (reads only)."""
    from django.db import connections

    found: dict[str, list[int]] = {}
    for model, name in encrypted_fields():
        table = connections[using].ops.quote_name(model._meta.db_table)
        field = model._meta.get_field(name)
        assert isinstance(field, EncryptedTextField)
        column = connections[using].ops.quote_name(field.column)
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY id")  # noqa: S608
            bad = [int(row_id) for row_id, token in cursor.fetchall() if not is_encrypted(str(token))]
        if bad:
            found[f"{model._meta.db_table}.{name}"] = bad
    return found


def refuse_undecryptable(*, using: str = "system") -> None:
    """UndecryptableSecret, naming the rows, when any stored secret decrypts with no configured key."""
    bad = undecryptable_secrets(using=using)
    if bad:
        named = "; ".join(f"{column} ids {', '.join(map(str, ids[:10]))}" for column, ids in bad.items())
        raise UndecryptableSecret(
            f"Stored secrets decrypt with no FIELD_ENCRYPTION_KEY ({named}): put the key they were encrypted with "
            "back in the list (after the new one) and run again; nothing was re-encrypted"
        )


def rotate_stored_secrets(*, using: str = "system", batch: int = 500) -> dict[str, int]:
    """Re-encrypt every encrypted column with the newest key, in batches (each its own transaction), across
    tenants (the system role). Checks first that every stored secret decrypts (UndecryptableSecret before any
    write). Safe to run twice. {"table.column": rows re-encrypted}."""
    from django.db import connections, transaction

    refuse_undecryptable(using=using)
    done: dict[str, int] = {}
    for model, name in encrypted_fields():
        table = connections[using].ops.quote_name(model._meta.db_table)
        field = model._meta.get_field(name)
        assert isinstance(field, EncryptedTextField)
        column = connections[using].ops.quote_name(field.column)
        last_id, count = 0, 0
        while True:
            with transaction.atomic(using=using), connections[using].cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {column} FROM {table} WHERE id > %s AND {column} IS NOT NULL "  # noqa: S608
                    "ORDER BY id LIMIT %s FOR UPDATE",
                    [last_id, batch],
                )
                rows = cursor.fetchall()
                for row_id, token in rows:
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [rotate(token), row_id])  # noqa: S608
            count += len(rows)
            if len(rows) < batch:
                break
            last_id = rows[-1][0]
        done[f"{model._meta.db_table}.{name}"] = count
    return done
