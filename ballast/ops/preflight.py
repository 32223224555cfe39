"""Keeps the last result of each preflight check (ops.PreflightResult): `ballast_preflight_check_passed` and the
governance page read them."""

from __future__ import annotations

from django.utils import timezone

from ballast.lib.preflight import Result, on_results
from ballast.ops.models import PreflightResult


@on_results
def keep_results(results: list[Result]) -> None:
    now = timezone.now()
    for result in results:
        PreflightResult.objects.using("system").update_or_create(
            name=result.name, defaults={"ok": result.ok, "detail": result.detail[:2000], "checked_at": now}
        )
