"""Trends drawn on the server as inline SVG (no chart library, readable without JavaScript)."""

from __future__ import annotations

from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD = 320, 90, 4


def _label(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value * 100:.1f} %"
    return f"{value:,.1f} {unit}".strip() if value % 1 else f"{int(value):,} {unit}".strip()


def line_chart(title: str, points: list[tuple[datetime, float | None]], *, unit: str = "") -> SafeString:
    """A polyline of the points (gaps where a value is missing), with the latest and the highest value."""
    values = [v for _, v in points if v is not None]
    top = max(values) if values else 0.0
    scale = top if top > 0 else 1.0
    segments: list[list[str]] = [[]]
    count = len(points)
    for index, (_, value) in enumerate(points):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        x = PAD + (WIDTH - 2 * PAD) * (index / (count - 1) if count > 1 else 0.5)
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value / scale)
        segments[-1].append(f"{x:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{" ".join(s)}"/>'
        for s in segments
        if s
    )
    latest = values[-1] if values else None
    summary = f"{title}: latest {_label(latest, unit)}, highest {_label(top if values else None, unit)}"
    caption = escape(summary)
    return mark_safe(  # noqa: S308 (every interpolated text is escaped or numeric)
        f'<figure class="ops-chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{caption}"><title>{caption}</title>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#ccc"/>{lines}</svg>'
        f"<figcaption>{caption}</figcaption></figure>"
    )
