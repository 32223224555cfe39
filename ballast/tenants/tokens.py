"""API token format: `bl_<12-char prefix>_<43-char secret>`. Only a SHA-256 of the whole token is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

TOKEN_PATTERN = re.compile(r"^bl_(?P<prefix>[A-Za-z0-9]{12})_[A-Za-z0-9_-]{43}$")
_PREFIX_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class NewToken:
    plaintext: str
    prefix: str
    key_hash: str


def hash_token(plaintext: str) -> str:
    # The secret carries 256 random bits, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_token() -> NewToken:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(12))
    plaintext = f"bl_{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(plaintext=plaintext, prefix=prefix, key_hash=hash_token(plaintext))


def parse_prefix(plaintext: str) -> str | None:
    """The token's prefix, or None when it is not a well-formed Ballast token."""
    match = TOKEN_PATTERN.match(plaintext)
    return match.group("prefix") if match else None
