"""The schema owner's database alias. Only processes started through scripts/with-owner.sh (migrate, the scheduler,
a maintenance command run by an operator) have it; web and worker processes never do."""

from __future__ import annotations

from django.db import connections

OWNER = "owner"
SYSTEM = "system"
WITH_OWNER = "scripts/with-owner.sh .venv/bin/python manage.py"


def owner_configured() -> bool:
    return OWNER in connections.settings


def owner_hint(command_line: str) -> str:
    """One line: what is missing and the command to run instead."""
    return f"needs the schema owner's connection (POSTGRES_OWNER_DSN): run it as {WITH_OWNER} {command_line}"


def catalogue_alias() -> str:
    """The alias to read the system catalogue with: the owner where there is one, else the system role (the
    catalogue reads the same for every role), so a dry run works without the owner."""
    return OWNER if owner_configured() else SYSTEM
