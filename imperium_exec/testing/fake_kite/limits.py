"""Kite's request limits: :class:`RateLimits` (the numbers) and :class:`RateCounter` (the count).

Per calendar second of the server's clock: 10 order writes (also 400 a minute and 5,000 an IST
day), 1 quote, 10 other requests; beyond, 429 ``NetworkException`` "Too many requests".
Requests refused by validation count, as at Kite. A modify is an order write of the second and
the minute but not of the day: Kite's 5,000 a day are orders (a modification counts against the
order's own 25, :mod:`.orders`); placements and cancels count there, as they always did here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import DAILY_ORDER_CAP, TOO_MANY_REQUESTS

_IST_OFFSET_S = 19_800.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Kite's request limits, counted per calendar second (minute, IST day) of server time."""

    order_writes_per_second: int = 10
    order_writes_per_minute: int = 400
    order_writes_per_day: int = 5_000
    quotes_per_second: int = 1
    reads_per_second: int = 10


class RateCounter:
    """Request counts per bucket in the current second / minute / IST day."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._windows: dict[tuple[str, float], tuple[int, int]] = {}

    def _checks(self, bucket: str) -> list[tuple[str, float, int, str]]:
        """(counter, span, limit, refusal) of each window a request of ``bucket`` counts in."""
        lim = self._limits
        if bucket in ("write", "modify"):
            checks = [("write", 1.0, lim.order_writes_per_second, TOO_MANY_REQUESTS),
                      ("write", 60.0, lim.order_writes_per_minute, TOO_MANY_REQUESTS)]
            if bucket == "write":
                checks.append(("write", 86_400.0, lim.order_writes_per_day, DAILY_ORDER_CAP))
            return checks
        if bucket == "quote":
            return [(bucket, 1.0, lim.quotes_per_second, TOO_MANY_REQUESTS)]
        return [(bucket, 1.0, lim.reads_per_second, TOO_MANY_REQUESTS)]

    def admit(self, bucket: str, now: float) -> str | None:
        """Count one request, or return the refusal text when a limit is reached."""
        checks = self._checks(bucket)
        counts: list[tuple[tuple[str, float], int, int]] = []
        for counter, span, limit, message in checks:
            window = math.floor((now + _IST_OFFSET_S) / span)
            idx, count = self._windows.get((counter, span), (window, 0))
            count = count if idx == window else 0
            if count >= limit:
                return message
            counts.append(((counter, span), window, count))
        for key, window, count in counts:
            self._windows[key] = (window, count + 1)
        return None
