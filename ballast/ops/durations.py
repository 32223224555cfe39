"""Durations as an operator reads them: "850 ms", "4.2 s", "13 min", "2.5 h", "3.1 d" (the same rule as the
charts' axes and hover values in ballast/ops/static/ops/console-charts.js)."""

from __future__ import annotations

NO_VALUE = "\N{EN DASH}"  # what the console's tables show for none
_STEPS = ((86_400_000.0, "d"), (3_600_000.0, "h"), (60_000.0, "min"), (1_000.0, "s"))


def humanise_ms(value: float | None) -> str:
    """A duration in milliseconds in its largest whole unit; NO_VALUE for none."""
    if value is None:
        return NO_VALUE
    size = abs(float(value))
    for factor, unit in _STEPS:
        if size >= factor:
            amount = float(value) / factor
            return f"{amount:.0f} {unit}" if abs(amount) >= 10 else f"{amount:.1f} {unit}".replace(".0 ", " ")
    return f"{float(value):.0f} ms" if size >= 10 or size == 0 else f"{float(value):.1f} ms"
