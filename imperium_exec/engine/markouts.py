"""Markouts: the mid 1, 5 and 60 seconds after each fill, against the fill's price.

A fill's row is never rewritten: each horizon gets its own ``markout`` row when it falls due,
naming the fill (child, order, fill price and units) and the mid then, in bps of the fill
price with the journal's sign (positive = cost: for a buy the mid fell below what was paid,
for a sale it rose above what was received; passive fills that keep costing are picked off).

The instrument's quotes are kept subscribed until its last markout is due, so the mid comes
from the market-data service like any other (the stream, or the coalesced REST call); a
horizon with no quote fresher than ``max_age_s`` within ``wait_s`` writes no mid, and says so.

On by default (``EngineConfig.markout_horizons_s``). Markouts still due when the engine
shuts down are not written (the desk closing does not wait a minute for them): a fill's
markout rows may be fewer than its horizons, never wrong. The rows come after the parent's
final row; readers of parent progress skip them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Callable

from ..clock import Clock
from ..events import Event
from .event_factory import EventFactory
from .market_data import MarketDataService, instrument_key
from .state import ChildState, ParentState

log = logging.getLogger(__name__)

HORIZONS_S: tuple[float, ...] = (1.0, 5.0, 60.0)


class MarkoutTracker:
    """Schedules and writes the markout rows (on the engine's loop)."""

    def __init__(self, *, clock: Clock, market_data: MarketDataService, events: EventFactory,
                 emit: Callable[[Event], None], horizons_s: tuple[float, ...] = HORIZONS_S,
                 wait_s: float = 2.0) -> None:
        self.clock = clock
        self.market_data = market_data
        self.events = events
        self._emit = emit
        self.horizons_s = horizons_s
        self.wait_s = wait_s
        self._pending: Counter[str] = Counter()  # instrument key -> markouts not yet written
        #: Markouts not yet due, by a number of their own: an asyncio timer hashes by its due
        #: time, and on a virtual clock many fall due at once (a set of them is quadratic).
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._timer_numbers = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def on_fill(self, parent: ParentState, child: ChildState, units: int, price: float) -> None:
        """A fill just happened: its markouts fall due at each horizon from now."""
        if not self.horizons_s or price <= 0 or self._closed:
            return
        req = parent.request
        key = instrument_key(req.exchange, req.tradingsymbol)
        if self._pending[key] == 0:
            self.market_data.subscribe([key])
        self._pending[key] += len(self.horizons_s)
        loop = asyncio.get_running_loop()
        for horizon in self.horizons_s:
            number = next(self._timer_numbers)
            self._timers[number] = loop.call_later(horizon, self._due, parent, child, key,
                                                   units, price, horizon, number)

    def _due(self, parent: ParentState, child: ChildState, key: str, units: int, price: float,
             horizon: float, number: int) -> None:
        self._timers.pop(number, None)
        task = asyncio.get_running_loop().create_task(
            self._write(parent, child, key, units, price, horizon))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """At shutdown (on the loop): markouts not yet due are dropped, those being written
        are cancelled and awaited; none is scheduled after this."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()

    async def _write(self, parent: ParentState, child: ChildState, key: str, units: int,
                     price: float, horizon: float) -> None:
        try:
            # No older than half the horizon: a +1 s markout must not read the quote the
            # child was priced from (the service's usual limit is 2 s).
            max_age = min(self.market_data.config.max_age_s, horizon / 2.0)
            held = await self.market_data.fresh(key, timeout=self.wait_s, max_age=max_age)
            mid = held.quote.mid if held is not None else None
            side = parent.request.side
            bps = side.sign * (price - mid) / price * 1e4 if mid is not None else None
            self._emit(self.events.markout_event(
                parent, child, units=units, price=price, horizon=horizon, mid=mid, bps=bps,
                message=None if mid is not None else
                f"no quote within {self.wait_s:g} s of the {horizon:g} s markout"))
        except Exception:
            log.exception("markout of %s failed", key)
        finally:
            self._pending[key] -= 1
            if self._pending[key] <= 0:
                del self._pending[key]
                self.market_data.unsubscribe([key])

    @property
    def pending(self) -> int:
        """Markouts scheduled and not yet written."""
        return sum(self._pending.values())


__all__ = ["HORIZONS_S", "MarkoutTracker"]
