"""The standard Django Tasks API, run by Ballast's workers (ballast.tasks.backend)."""

from __future__ import annotations

__all__ = ["TASKS"]

TASKS = {"default": {"BACKEND": "ballast.tasks.backend.BallastBackend"}}
