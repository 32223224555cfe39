"""Cron expressions in a time zone, and the schedules declared in code.

Slots are computed by croniter on the schedule's local wall clock, so `0 3 * * *` in Europe/Berlin is 03:00 there
in summer and in winter. Across a change of the clocks, the rule of Debian's cron: a time the clocks skip runs at
the first moment after the jump (`30 2 * * *` runs at 03:00 on the spring-forward day); a time the clocks repeat
runs once, at its first occurrence, unless the hour field is `*` (then it runs in both, as an hourly job should).
Every function takes the time to reckon from as an argument: nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, croniter  # type: ignore[import-untyped]

MAX_EXPRESSION_LENGTH = 100


class CronError(ValueError):
    """A bad expression or time zone; `field` names which ("cron" or "timezone")."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    if not name or name not in available_timezones():
        raise CronError(
            f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'", field="timezone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"Unknown time zone {name!r}", field="timezone") from None


def validate(expression: str, timezone: str) -> None:
    """CronError unless `expression` is a five-field cron expression and `timezone` an IANA zone."""
    zone(timezone)
    fields = expression.split()
    if len(expression) > MAX_EXPRESSION_LENGTH or len(fields) != 5:
        raise CronError(
            f"{expression!r} is not a cron expression: it needs five fields (minute hour day month weekday)",
            field="cron",
        )
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise CronError(f"{expression!r} is not a cron expression: {exc}", field="cron") from None


def _repeated(expression: str, slot: datetime, tz: ZoneInfo) -> bool:
    """A slot in the second pass of an hour the clocks repeat, of an expression with a fixed hour."""
    local = slot.astimezone(UTC).astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset() and expression.split()[1] != "*"


def next_slot(expression: str, timezone: str, *, after: datetime) -> datetime:
    """The first slot strictly after `after`, in UTC."""
    tz = zone(timezone)
    it = croniter(expression, after.astimezone(tz))
    while True:
        slot: datetime = it.get_next(datetime)
        if not _repeated(expression, slot, tz):
            return slot.astimezone(UTC)


def latest_slot(expression: str, timezone: str, *, now: datetime) -> datetime:
    """The last slot at or before `now`, in UTC."""
    tz = zone(timezone)
    it = croniter(expression, (now + timedelta(microseconds=1)).astimezone(tz))
    while True:
        slot: datetime = it.get_prev(datetime)
        if not _repeated(expression, slot, tz):
            return slot.astimezone(UTC)


@dataclass(frozen=True)
class Declared:
    """A schedule declared in code (`cron=` on @job_handler or @task): read-only, filed under the platform tenant."""

    job_type: str
    cron: str
    timezone: str = "UTC"
    payload: dict[str, Any] = field(default_factory=dict)
    missed: str = "skip"

    @property
    def name(self) -> str:
        return f"code:{self.job_type}"


_declared: dict[str, Declared] = {}


def declare(job_type: str, *, cron: str, timezone: str = "UTC", payload: dict[str, Any] | None = None) -> None:
    """Declare that `job_type` runs on `cron` in `timezone`; CronError at import time if either is bad."""
    validate(cron, timezone)
    _declared[job_type] = Declared(job_type=job_type, cron=cron, timezone=timezone, payload=payload or {})


def declared() -> list[Declared]:
    return sorted(_declared.values(), key=lambda d: d.job_type)
