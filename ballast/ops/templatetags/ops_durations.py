"""Durations as an operator reads them: `{{ attempt.duration_ms|duration }}` → "250 ms", "1.5 s", "13 min 2 s"."""

from __future__ import annotations

from django import template

register = template.Library()
NONE = "\u2013"  # the en dash the console shows for a missing value


@register.filter
def duration(ms: float | int | None) -> str:
    """Milliseconds in the largest units that read well; a dash for none."""
    if ms is None or ms == "":
        return NONE
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
