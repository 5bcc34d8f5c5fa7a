"""Live mode's option chain from Kite Connect, on a fake client (no network, no credentials).

The chain reads its quotes from the engine's market-data service (``ExecutionStack.quotes``)
and only asks it to keep what is on screen fresh: it never calls ``kite.quote`` itself (Kite
allows one quote call a second per account; the engine makes it). End to end against the fake
Kite server: tests/widgets/desk/test_desk_live_stream.py.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import pytest

from imperium_exec.brokers.base import Quote
from imperium_exec.engine.market_data import MarketQuote
from imperium_exec.events import QuoteSource
from imperium_exec.timeutil import IST
from imperium_exec.widgets.desk.live import KiteChain
from imperium_exec.widgets.desk.tickets import BasketLeg, ExecutionPolicy, fetch_snapshot

SPOT_KEY = "NSE:NIFTY 50"


class FakeKite:
    """A Kite client with an instrument dump and no quote endpoint (the chain must not call it)."""

    def __init__(self) -> None:
        today = dt.datetime.now(IST).date()
        self.near, self.far = today + dt.timedelta(days=2), today + dt.timedelta(days=9)
        self.instruments_calls = 0

    def symbol(self, strike: int, kind: str, expiry: dt.date | None = None) -> str:
        return f"NIFTY{expiry or self.near:%y%m%d}{strike}{kind}"

    def instruments(self, exchange: str) -> list[dict[str, Any]]:
        self.instruments_calls += 1
        rows = []
        for expiry in (self.near, self.far, dt.date(2000, 1, 1)):
            for strike in range(25_500, 26_550, 50):
                for kind in ("CE", "PE"):
                    rows.append({"name": "NIFTY", "instrument_type": kind, "expiry": expiry,
                                 "strike": float(strike), "lot_size": 65,
                                 "tradingsymbol": self.symbol(strike, kind, expiry)})
        rows.append({"name": "BANKNIFTY", "instrument_type": "CE", "expiry": self.near,
                     "strike": 50_000.0, "lot_size": 30, "tradingsymbol": "BANKNIFTYX"})
        return rows

    def quote(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the chain called kite.quote: quotes come from the engine's service")


class FakeQuotes:
    """The engine's market data as the desk sees it, recording every call."""

    def __init__(self, kite: FakeKite) -> None:
        self.kite = kite  # where the instruments dump comes from
        self.held: dict[str, MarketQuote] = {}
        self.refs: Counter[str] = Counter()
        self.watch_calls: list[list[str]] = []
        self.unwatch_calls: list[list[str]] = []
        self.read_calls: list[list[str]] = []

    def instrument_dump(self, exchange: str) -> list[dict[str, Any]]:
        return self.kite.instruments(exchange)

    def hold(self, key: str, *, ltp: float, bid: float | None = None, ask: float | None = None,
            bid_quantity: int = 0, ask_quantity: int = 0, volume: int = 0) -> None:
        quote = Quote(key.partition(":")[2], 1.0, bid, ask, ltp, volume, bid_quantity,
                      ask_quantity)
        self.held[key] = MarketQuote(key, quote, QuoteSource.STREAM, 1.0)

    def watch_quotes(self, keys: list[str]) -> None:
        self.watch_calls.append(list(keys))
        self.refs.update(keys)

    def unwatch_quotes(self, keys: list[str]) -> None:
        self.unwatch_calls.append(list(keys))
        self.refs.subtract(keys)
        assert min(self.refs.values(), default=0) >= 0, "unwatched something never watched"

    def quotes(self, keys: list[str]) -> dict[str, MarketQuote]:
        self.read_calls.append(list(keys))
        return {k: self.held[k] for k in keys if k in self.held}

    @property
    def watched(self) -> set[str]:
        return {k for k, n in self.refs.items() if n > 0}


def priced(kite: FakeKite, quotes: FakeQuotes, spot: float = 26_012.4) -> None:
    """Every near-expiry instrument priced (bid 99.5 + i, ask 100.5 + i), and the spot."""
    quotes.hold(SPOT_KEY, ltp=spot)
    for i, strike in enumerate(range(25_500, 26_550, 50)):
        for kind in ("CE", "PE"):
            quotes.hold(f"NFO:{kite.symbol(strike, kind)}", ltp=100.0 + i, bid=99.5 + i,
                       ask=100.5 + i, bid_quantity=650, ask_quantity=325, volume=1000 * i)


def nfo_keys(kite: FakeKite, strikes: range) -> set[str]:
    return {f"NFO:{kite.symbol(s, k)}" for s in strikes for k in ("CE", "PE")}


def test_the_live_chain_is_the_nearest_expiry_around_the_money() -> None:
    kite = FakeKite()
    quotes = FakeQuotes(kite)
    priced(kite, quotes)
    chain = KiteChain(quotes=quotes)
    view = chain.option_chain("NIFTY", strikes_each_side=2)
    assert view.expiry == kite.near and view.spot == 26_012.4 and view.atm_strike == 26_000
    assert [row.strike for row in view.rows] == [25_900, 25_950, 26_000, 26_050, 26_100]
    atm = view.rows[2]
    assert atm.call.tradingsymbol == kite.symbol(26_000, "CE")
    assert atm.put.tradingsymbol == kite.symbol(26_000, "PE")
    # The ATM strike is the 11th of the strip: bid 99.5 + 10, ask 100.5 + 10.
    assert (atm.call.bid, atm.call.ask, atm.call.bid_quantity) == (109.5, 110.5, 650)
    assert (atm.put.ltp, atm.put.ask_quantity, atm.put.volume) == (110.0, 325, 10_000)
    # What is on screen, and the index for the spot, is watched; nothing else.
    assert quotes.watched == {SPOT_KEY} | nfo_keys(kite, range(25_900, 26_150, 50))
    assert chain.watched == quotes.watched and not quotes.unwatch_calls
    chain.option_chain("NIFTY", strikes_each_side=2)
    assert kite.instruments_calls == 1  # the instrument dump is loaded once
    assert len(quotes.watch_calls) == 1  # the same screen: nothing watched twice


def test_only_the_strikes_on_screen_stay_watched_as_the_money_moves() -> None:
    kite = FakeKite()
    quotes = FakeQuotes(kite)
    priced(kite, quotes)
    chain = KiteChain(quotes=quotes)
    chain.option_chain("NIFTY", strikes_each_side=2)
    quotes.hold(SPOT_KEY, ltp=26_111.0)  # two strikes up
    view = chain.option_chain("NIFTY", strikes_each_side=2)
    assert view.atm_strike == 26_100
    assert [row.strike for row in view.rows] == [26_000, 26_050, 26_100, 26_150, 26_200]
    assert quotes.watch_calls[-1] == sorted(nfo_keys(kite, range(26_150, 26_250, 50)))
    assert quotes.unwatch_calls == [sorted(nfo_keys(kite, range(25_900, 26_000, 50)))]
    assert quotes.watched == {SPOT_KEY} | nfo_keys(kite, range(26_000, 26_250, 50))
    view = chain.option_chain("NIFTY", strikes_each_side=1)  # a narrower screen
    assert [row.strike for row in view.rows] == [26_050, 26_100, 26_150]
    assert quotes.watched == {SPOT_KEY} | nfo_keys(kite, range(26_050, 26_200, 50))
    chain.close()  # the desk closed: every subscription handed back
    assert quotes.watched == set() and chain.watched == frozenset()


def test_no_quote_held_yet_shows_empty_cells_centred_on_the_middle_strike() -> None:
    kite = FakeKite()
    quotes = FakeQuotes(kite)
    chain = KiteChain(quotes=quotes)
    view = chain.option_chain("NIFTY", strikes_each_side=2)  # nothing held: no wait, no error
    assert math.isnan(view.spot)
    assert view.atm_strike == 26_000  # the middle of 25,500 .. 26,500
    for row in view.rows:
        for quote in (row.call, row.put):
            assert (quote.bid, quote.ask, quote.ltp, quote.volume) == (None, None, None, 0)
            assert quote.tradingsymbol.startswith("NIFTY")
    assert quotes.watched == {SPOT_KEY} | nfo_keys(kite, range(25_900, 26_150, 50))
    # The spot and one instrument arrive: the chain recentres and shows what is held.
    quotes.hold(SPOT_KEY, ltp=25_640.0)
    quotes.hold(f"NFO:{kite.symbol(25_650, 'CE')}", ltp=80.0, bid=79.5, ask=80.5)
    view = chain.option_chain("NIFTY", strikes_each_side=2)
    assert view.spot == 25_640.0 and view.atm_strike == 25_650
    atm = view.rows[2]
    assert (atm.call.bid, atm.call.ask) == (79.5, 80.5) and atm.put.ltp is None
    assert quotes.watched == {SPOT_KEY} | nfo_keys(kite, range(25_550, 25_800, 50))


def test_a_dump_without_the_underlying_is_an_error_not_a_quote_call() -> None:
    chain = KiteChain(quotes=FakeQuotes(FakeKite()))
    with pytest.raises(ValueError, match="no SENSEX options"):
        chain.option_chain("SENSEX")


def test_the_desk_prices_live_tickets_like_paper_ones() -> None:
    kite = FakeKite()
    quotes = FakeQuotes(kite)
    priced(kite, quotes)
    snapshot = fetch_snapshot(KiteChain(quotes=quotes), "NIFTY", 2)
    assert snapshot.lot_size == 65
    payload = snapshot.payload(BasketLeg(25_900.0, "PE", 2), "SELL", ExecutionPolicy())
    assert payload["quantity"] == 130 and payload["transaction_type"] == "SELL"
    assert payload["tradingsymbol"] == kite.symbol(25_900, "PE") and payload["exchange"] == "NFO"
    assert payload["bid"] == 107.5 and payload["ask"] == 108.5
    assert kite.instruments_calls == 1  # the lot size comes from the same dump


def test_a_ticket_on_an_unpriced_strike_carries_no_prices() -> None:
    kite = FakeKite()
    snapshot = fetch_snapshot(KiteChain(quotes=FakeQuotes(kite)), "NIFTY", 2)
    payload = snapshot.payload(BasketLeg(26_000.0, "CE", 1), "BUY", ExecutionPolicy())
    assert payload["quantity"] == 65
    assert not {"bid", "ask", "last_price"} & payload.keys()  # the engine prices it itself
