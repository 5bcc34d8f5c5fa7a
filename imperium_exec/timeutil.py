"""Time zone and tick arithmetic shared by every layer."""

from __future__ import annotations

import datetime as dt
import math

IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")

#: NSE/BSE F&O continuous session, 09:15-15:30 IST: 375 minutes.
SESSION_OPEN = dt.time(9, 15)
SESSION_CLOSE = dt.time(15, 30)
SESSION_SECONDS = 375 * 60


def ticks(price: float, tick_size: float) -> float:
    """Price expressed in ticks (a float; integral when the price is on the tick grid)."""
    return price / tick_size


def is_on_tick(price: float, tick_size: float, tolerance: float = 1e-6) -> bool:
    n = ticks(price, tick_size)
    return abs(n - round(n)) <= tolerance


def round_to_tick(price: float, tick_size: float, direction: str = "nearest") -> float:
    """Round a price to the tick grid: ``nearest``, ``down`` (floor) or ``up`` (ceil).

    Works in whole ticks so the result formats cleanly (``0.1 + 0.2`` becomes ``0.3``, never
    ``0.30000000000000004``, which Kite would receive verbatim).
    """
    n = ticks(price, tick_size)
    nearest = round(n)
    if abs(n - nearest) <= 1e-9:
        whole = nearest
    elif direction == "down":
        whole = math.floor(n)
    elif direction == "up":
        whole = math.ceil(n)
    else:
        whole = nearest
    decimals = max(0, -math.floor(math.log10(tick_size)) + 1) if tick_size < 1 else 0
    return round(whole * tick_size, decimals)


#: The ISO text of recent whole seconds in IST, split where the milliseconds go (rows come
#: many to a second: the journal's reader rebuilds every row's ``timestamp`` from its ``ts``).
_SECOND_TEXT: dict[int, tuple[str, str]] = {}


def epoch_to_iso(epoch_s: float) -> str:
    """ISO-8601 timestamp in IST with milliseconds, the telemetry's ``timestamp`` field:
    ``datetime.fromtimestamp(epoch_s, IST).isoformat(timespec="milliseconds")``, the second's
    text made once for all the rows of that second."""
    # As datetime does: the fraction to the nearest microsecond (half to even), which may
    # carry into the second; the milliseconds are that microsecond's, truncated.
    fraction, whole = math.modf(epoch_s)
    second, micro = int(whole), round(fraction * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    elif micro < 0:
        second, micro = second - 1, micro + 1_000_000
    text = _SECOND_TEXT.get(second)
    if text is None:
        if len(_SECOND_TEXT) >= 4096:
            _SECOND_TEXT.clear()
        iso = dt.datetime.fromtimestamp(second, IST).isoformat()  # ...T09:15:00+05:30
        text = _SECOND_TEXT[second] = (iso[:-6], iso[-6:])
    return f"{text[0]}.{micro // 1000:03d}{text[1]}"


def ist_day_start(epoch_s: float) -> float:
    """Epoch seconds of 00:00 IST on the day of ``epoch_s`` (a trading day's start)."""
    day = dt.datetime.fromtimestamp(epoch_s, IST).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    return day.timestamp()
