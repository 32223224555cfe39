"""When the next attempt of a delivery runs: a fixed schedule with ±10 % jitter, or later if the receiver
asked (Retry-After)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ballast.lib.retry import on_schedule

# Delay before attempt n (1-based): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.10
# A receiver may push its retries back, not park them for ever.
MAX_RETRY_AFTER = timedelta(hours=24)


def scheduled_delay(failed_attempts: int) -> timedelta | None:
    """The jittered wait after `failed_attempts` failures; None when the schedule is exhausted."""
    return on_schedule(SCHEDULE, failed_attempts, jitter=JITTER)


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """Retry-After as delay-seconds or an HTTP date, capped at MAX_RETRY_AFTER; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value[:9]))  # no overflow for absurd values: the cap applies anyway
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, by RFC 5322
            when = when.replace(tzinfo=UTC)
        delay = max(when - now, timedelta(0))
    return min(delay, MAX_RETRY_AFTER)


def next_attempt_at(failed_attempts: int, *, now: datetime, retry_after: str | None = None) -> datetime | None:
    """When to try again after `failed_attempts` failures: the later of the schedule and Retry-After.
    None when the schedule is exhausted."""
    delay = scheduled_delay(failed_attempts)
    if delay is None:
        return None
    asked = parse_retry_after(retry_after, now=now)
    return now + max(delay, asked or timedelta(0))
