"""The plain-RQ baseline's job: does nothing, like Ballast's diagnostics.echo."""

from __future__ import annotations

from typing import Any


def noop(value: Any) -> Any:
    return value
