"""Kite's request limits: :class:`RateLimits` (the numbers) and :class:`RateCounter` (the count).

Per calendar second of the server's clock: 10 order writes (also 400 a minute and 5,000 an IST
day), 1 quote, 10 other requests; beyond, 429 ``NetworkException`` "Too many requests".
Requests refused by validation count, as at Kite.
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

    def _checks(self, bucket: str) -> list[tuple[float, int, str]]:
        lim = self._limits
        if bucket == "write":
            return [(1.0, lim.order_writes_per_second, TOO_MANY_REQUESTS),
                    (60.0, lim.order_writes_per_minute, TOO_MANY_REQUESTS),
                    (86_400.0, lim.order_writes_per_day, DAILY_ORDER_CAP)]
        if bucket == "quote":
            return [(1.0, lim.quotes_per_second, TOO_MANY_REQUESTS)]
        return [(1.0, lim.reads_per_second, TOO_MANY_REQUESTS)]

    def admit(self, bucket: str, now: float) -> str | None:
        """Count one request, or return the refusal text when a limit is reached."""
        checks = self._checks(bucket)
        counts: list[tuple[tuple[str, float], int, int]] = []
        for span, limit, message in checks:
            window = math.floor((now + _IST_OFFSET_S) / span)
            idx, count = self._windows.get((bucket, span), (window, 0))
            count = count if idx == window else 0
            if count >= limit:
                return message
            counts.append(((bucket, span), window, count))
        for key, window, count in counts:
            self._windows[key] = (window, count + 1)
        return None
