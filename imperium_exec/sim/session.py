"""Market time: wall-clock epochs mapped to the seconds the market has been open.

The simulated market only moves while it is open, so its random walk, volume and decay all run
on *market seconds*. Always-open desks count from the moment the broker started (each 375
minutes is a new volume day); NSE hours count 09:15-15:30 IST of each calendar day from the
first one (weekends and holidays are not modelled).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from ..timeutil import IST, SESSION_CLOSE, SESSION_OPEN, SESSION_SECONDS
from .pricing import FloatArray

DAY_S = 86_400.0


def open_epoch(day: dt.date) -> float:
    """09:15 IST of ``day`` as epoch seconds."""
    return dt.datetime.combine(day, SESSION_OPEN, IST).timestamp()


def close_epoch(day: dt.date) -> float:
    """15:30 IST of ``day`` (the expiry instant of contracts expiring that day)."""
    return dt.datetime.combine(day, SESSION_CLOSE, IST).timestamp()


class MarketTimeline:
    """Converts between epochs and market seconds, and says when orders are accepted."""

    def __init__(self, hours: str, start_epoch: float) -> None:
        self.always_open = hours == "always_open"
        self.first_day = dt.datetime.fromtimestamp(start_epoch, IST).date()
        self.first_open = start_epoch if self.always_open else open_epoch(self.first_day)

    def market_seconds(self, epoch: float) -> float:
        """Seconds of open market between the first open and ``epoch``."""
        if self.always_open:
            return max(0.0, epoch - self.first_open)
        since = epoch - self.first_open
        if since <= 0:
            return 0.0
        days = math.floor(since / DAY_S)
        within = min(since - days * DAY_S, float(SESSION_SECONDS))
        return days * float(SESSION_SECONDS) + within

    def epochs(self, market_s: FloatArray) -> FloatArray:
        """Epochs of the given market seconds (vectorised inverse of :meth:`market_seconds`)."""
        if self.always_open:
            return np.asarray(self.first_open + market_s, dtype=np.float64)
        days = np.floor(market_s / SESSION_SECONDS)
        out = self.first_open + days * DAY_S + (market_s - days * SESSION_SECONDS)
        return np.asarray(out, dtype=np.float64)

    def epoch_at(self, market_s: float) -> float:
        """Epoch of one market second (scalar :meth:`epochs`)."""
        if self.always_open:
            return self.first_open + market_s
        days = math.floor(market_s / SESSION_SECONDS)
        return self.first_open + days * DAY_S + (market_s - days * SESSION_SECONDS)

    def session_seconds(self, epoch: float) -> float:
        """Seconds since the current session's open, within 0..375 minutes."""
        if self.always_open:
            return math.fmod(max(0.0, epoch - self.first_open), float(SESSION_SECONDS))
        day = dt.datetime.fromtimestamp(epoch, IST).date()
        return min(max(0.0, epoch - open_epoch(day)), float(SESSION_SECONDS))

    def next_close(self, epoch: float) -> float:
        """The first session close after ``epoch`` (never, for an always-open market)."""
        if self.always_open:
            return math.inf
        day = dt.datetime.fromtimestamp(epoch, IST).date()
        close = close_epoch(day)
        return close if close > epoch else close_epoch(day + dt.timedelta(days=1))

    def is_open(self, epoch: float) -> bool:
        if self.always_open:
            return True
        day = dt.datetime.fromtimestamp(epoch, IST).date()
        return open_epoch(day) <= epoch < close_epoch(day)

    def session_open_epoch(self, epoch: float) -> float:
        """When the session containing ``epoch`` opened."""
        if self.always_open:
            return epoch - self.session_seconds(epoch)
        return open_epoch(dt.datetime.fromtimestamp(epoch, IST).date())
