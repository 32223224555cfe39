"""Trends as charts: each a series of (time, value) points with its unit, drawn in the browser by uPlot
(ballast/ops/static/ops/console-charts.js: a time axis, the unit on the value axis, the values under the pointer)
and captioned on the server, so the latest and highest values read without JavaScript too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ballast.ops.durations import humanise_ms

# The units a chart may carry, as console-charts.js formats them.
UNITS = ("", "%", "ms", "/min")


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "ms":
        return humanise_ms(value)
    text = f"{value:,.1f}" if value % 1 else f"{int(value):,}"
    return f"{text} {unit}".strip()


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    points: list[tuple[datetime, float | None]]
    unit: str = ""
    # The time axis spans the whole window, however few points it holds.
    span: tuple[datetime, datetime] | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"Unknown chart unit {self.unit!r}.")

    @property
    def data_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"))

    @property
    def data(self) -> dict[str, Any]:
        """What console-charts.js draws: epoch seconds and values (null where a bucket has none)."""
        return {
            "title": self.title,
            "unit": self.unit,
            "start": int(self.span[0].timestamp()) if self.span else None,
            "end": int(self.span[1].timestamp()) if self.span else None,
            "x": [int(at.timestamp()) for at, _ in self.points],
            "y": [None if value is None else round(float(value), 4) for _, value in self.points],
        }

    @property
    def caption(self) -> str:
        values = [value for _, value in self.points if value is not None]
        if not values:
            return f"{self.title}: no data in this window"
        latest, top = format_value(values[-1], self.unit), format_value(max(values), self.unit)
        return f"{self.title}: latest {latest}, highest {top}"
