"""Live mode: the option chain from Kite Connect, for a desk whose stack runs on KiteBroker.

Only used with explicit credentials (``imperium-exec demo --mode live``). The chain is built from
the NFO/BFO instrument dump (loaded once for the whole session, under the account's rate budget,
and shared with the engine's ticker) and the quotes the engine's market-data
service holds: the chain never calls ``kite.quote`` itself. Kite allows one quote call a second
per account, so the desk asks the service (``ExecutionStack.watch_quotes``) to keep the
instruments on screen fresh, from Kite's ticker or, without one, coalesced into the engine's one
REST quote call a second at the lowest priority, and reads whatever is held
(``ExecutionStack.quotes``). Nothing here waits for a quote: an instrument with no quote yet
shows as an empty cell, and the chain is centred on the middle strike until the index's spot
arrives. Like every call of the chain poller, :meth:`KiteChain.option_chain` runs on its worker
thread; the service's methods may be called from any thread.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from ...brokers.base import ChainRow, OptionChain, Quote
from ...engine.market_data import MarketQuote, instrument_key
from ...instruments import INDEX_QUOTE_KEYS, default_instrument_master
from ...timeutil import IST


def index_and_exchange(underlying: str) -> tuple[str, str]:
    """The index's quote key (Kite's) and the exchange its options trade on (``NFO``, ``BFO``),
    from the one table of index keys and the dated exchange configuration."""
    config = default_instrument_master().underlyings[underlying]
    return INDEX_QUOTE_KEYS[underlying], config.exchange


class DeskQuotes(Protocol):
    """The engine's market data as the desk sees it (``ExecutionStack`` provides it)."""

    def watch_quotes(self, keys: list[str]) -> None:
        """Keep ``keys`` fresh for the desk (reference counted; returns at once)."""
        ...

    def unwatch_quotes(self, keys: list[str]) -> None: ...

    def quotes(self, keys: list[str]) -> Mapping[str, MarketQuote]:
        """The newest quotes held for ``keys`` (never waits; missing keys are left out)."""
        ...

    def instrument_dump(self, exchange: str) -> list[dict[str, Any]]:
        """The instruments dump of ``exchange``, loaded once under the account's budget."""
        ...


def empty_quote(tradingsymbol: str) -> Quote:
    """What an instrument with no quote held yet shows: every price empty."""
    return Quote(tradingsymbol=tradingsymbol, timestamp=0.0, bid=None, ask=None, ltp=None,
                 volume=0)


class KiteChain:
    """``option_chain`` / ``instruments`` for the desk, all from the engine (``quotes``, e.g. the
    ``ExecutionStack``): the instruments dump and the market-data service's quotes.

    Subscriptions stay bounded by what is on screen: each :meth:`option_chain` watches the
    instruments it shows (and the index, for the spot) and unwatches those that scrolled off;
    :meth:`close` unwatches the rest.
    """

    def __init__(self, *, quotes: DeskQuotes) -> None:
        self.market = quotes
        self._options: dict[str, list[dict[str, Any]]] = {}
        self._watched: frozenset[str] = frozenset()
        self._lock = threading.Lock()  # the poller's worker thread vs close() on the GUI thread

    def _load(self, underlying: str) -> list[dict[str, Any]]:
        if underlying not in self._options:
            exchange = index_and_exchange(underlying)[1]
            today = dt.datetime.now(IST).date()
            self._options[underlying] = [
                i for i in self.market.instrument_dump(exchange)
                if i.get("name") == underlying and i.get("instrument_type") in ("CE", "PE")
                and isinstance(i.get("expiry"), dt.date) and i["expiry"] >= today]
        return self._options[underlying]

    @property
    def watched(self) -> frozenset[str]:
        """The instrument keys this chain keeps subscribed now."""
        return self._watched

    def option_chain(self, underlying: str = "NIFTY", *, strikes_each_side: int = 10,
                     expiry: dt.date | None = None) -> OptionChain:
        """``expiry`` (the nearest when None), ``strikes_each_side`` strikes either side of
        the money, priced from the quotes the service holds now (never waits for one)."""
        options = self._load(underlying)
        if not options:
            raise ValueError(f"no {underlying} options in the instrument dump")
        expiries = tuple(sorted({i["expiry"] for i in options}))
        if expiry is None:
            expiry = expiries[0]
        elif expiry not in expiries:
            raise ValueError(f"no {underlying} options expire on {expiry:%d %b %Y}")
        by_strike: dict[float, dict[str, dict[str, Any]]] = {}
        for i in options:
            if i["expiry"] == expiry:
                by_strike.setdefault(float(i["strike"]), {})[i["instrument_type"]] = i
        strikes = sorted(s for s, pair in by_strike.items() if len(pair) == 2)
        if not strikes:
            raise ValueError(f"no {underlying} {expiry:%d %b %Y} strike has both a call and a put")
        index_key, exchange = index_and_exchange(underlying)
        spot = self._spot(index_key)
        if math.isnan(spot):  # no spot yet: the middle of the strikes, until it comes
            atm = strikes[len(strikes) // 2]
        else:
            atm = min(strikes, key=lambda s: abs(s - spot))
        centre = strikes.index(atm)
        chosen = strikes[max(0, centre - strikes_each_side):centre + strikes_each_side + 1]
        symbols = {(s, t): str(by_strike[s][t]["tradingsymbol"]) for s in chosen
                   for t in ("CE", "PE")}
        keys = [instrument_key(exchange, symbol) for symbol in symbols.values()]
        self._show([index_key, *keys])
        held = self.market.quotes(keys)
        taken_at = time.time()
        rows = []
        for s in chosen:
            pair = []
            for t in ("CE", "PE"):
                symbol = symbols[(s, t)]
                got = held.get(instrument_key(exchange, symbol))
                pair.append(got.quote if got is not None else empty_quote(symbol))
            rows.append(ChainRow(s, pair[0], pair[1]))
        lot_size = int(by_strike[atm]["CE"]["lot_size"])
        listed = tuple(u for u in INDEX_QUOTE_KEYS
                       if u in default_instrument_master().underlyings)
        return OptionChain(underlying, expiry, spot, atm, tuple(rows), lot_size, taken_at,
                           expiries=expiries, underlyings=listed)

    def close(self) -> None:
        """Unwatch everything this chain watches (before the stack shuts down)."""
        self._show([])

    # ------------------------------------------------------------------ internals

    def _spot(self, index_key: str) -> float:
        held = self.market.quotes([index_key]).get(index_key)
        if held is None:
            return math.nan
        price = held.quote.ltp if held.quote.ltp is not None else held.quote.mid
        return float(price) if price is not None and price > 0 else math.nan

    def _show(self, keys: list[str]) -> None:
        """Watch ``keys``, unwatch what was watched and is no longer shown."""
        wanted = frozenset(keys)
        with self._lock:
            new = sorted(wanted - self._watched)
            if new:
                self.market.watch_quotes(new)
                self._watched = self._watched | frozenset(new)
            gone = sorted(self._watched - wanted)
            if gone:
                self.market.unwatch_quotes(gone)
                self._watched = self._watched - frozenset(gone)


__all__ = ["DeskQuotes", "KiteChain", "empty_quote", "index_and_exchange"]
