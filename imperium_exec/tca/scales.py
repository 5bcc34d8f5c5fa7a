"""Round numbers for the report's histogram bins and chart axes."""

from __future__ import annotations

import math


def signed_text(value: float, digits: int, *, thousands: bool = True) -> str:
    """A figure with its sign (``+1.25``, ``-0.40``), and ``0.00`` for what rounds to
    nothing: never ``-0.00``, which would call nothing a saving."""
    if round(value, digits) == 0:
        return f"{0.0:.{digits}f}"
    return f"{value:+,.{digits}f}" if thousands else f"{value:+.{digits}f}"


def nice_range(low: float, high: float) -> tuple[float, float]:
    """[low, high] widened to round numbers (a step of 1, 2 or 5 times a power of ten), and
    never empty."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if high <= low:
        low, high = low - 1.0, high + 1.0
    step = nice_step((high - low) / 10)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def nice_step(rough: float) -> float:
    """The round step (1, 2 or 5 times a power of ten) at or just above ``rough``."""
    if rough <= 0 or not math.isfinite(rough):
        return 1.0
    power = 10.0 ** math.floor(math.log10(rough))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if rough <= factor * power:
            return factor * power
    return 10.0 * power
