"""The market data routes: ``GET /quote`` (+ ``/ltp``, ``/ohlc``) and ``GET /instruments``, and
the ticker's full-mode tick of a book.

Quotes carry one depth level per side (the rest zeros, as at Kite); an instrument not listed is
left out of the answer, except an index key such as ``NSE:NIFTY 50``, quoted at its underlying's
spot as Kite quotes an index (a last price, no depth). Instruments are Kite's CSV dump.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ...brokers.kite.codec import SEGMENT_INDICES, DepthLevel, Tick, segment_of
from ...instruments import INDEX_QUOTE_KEYS
from ...sim.chain import INDEX_SYMBOLS
from ...timeutil import round_to_tick
from .errors import input_error
from .exchange import Exchange
from .instruments import FakeInstrument
from .records import Book, ist

#: An index's quote key -> its underlying and Kite's instrument token (0: not known here):
#: the fake quotes an index at the underlying's spot.
INDEX_UNDERLYINGS: dict[str, tuple[str, int]] = {
    key: (name, INDEX_SYMBOLS[name][2] if name in INDEX_SYMBOLS else 0)
    for name, key in INDEX_QUOTE_KEYS.items()}



def circuit_limits(inst: FakeInstrument, book: Book) -> tuple[float, float]:
    """The instrument's daily price range (an option's: a tick to three times its price);
    zeros while it has no price. A limit outside it is refused (Kite's LPP / circuit check)."""
    reference = max(book.ltp, book.ask, book.close)
    if not reference:
        return 0.0, 0.0
    return inst.tick_size, round_to_tick(reference * 3.0, inst.tick_size)

def quotes(ex: Exchange, keys: list[str], mode: str | None, now: float) -> dict[str, Any]:
    """``GET /quote`` (``mode`` None), ``/quote/ltp`` or ``/quote/ohlc`` for the keys ``i``."""
    if not keys:
        raise input_error("No instruments specified.")
    out: dict[str, Any] = {}
    for key in keys:
        inst = ex.instruments.get(key)
        if inst is None:
            index = index_quote(ex, key, mode, now)
            if index is not None:
                out[key] = index
            continue  # Kite leaves unknown instruments out of the response
        book = ex.books.get(key, Book())
        ohlc = {"open": book.open, "high": book.high, "low": book.low, "close": book.close}
        if mode == "ltp":
            out[key] = {"instrument_token": inst.instrument_token, "last_price": book.ltp}
            continue
        if mode == "ohlc":
            out[key] = {"instrument_token": inst.instrument_token, "last_price": book.ltp,
                        "ohlc": ohlc}
            continue
        lower, upper = circuit_limits(inst, book)
        out[key] = {
            "instrument_token": inst.instrument_token, "timestamp": ist(now),
            "last_trade_time": ist(book.last_trade_at), "last_price": book.ltp,
            "last_quantity": book.last_quantity, "buy_quantity": book.bid_quantity,
            "sell_quantity": book.ask_quantity, "volume": book.volume,
            "average_price": book.ltp, "oi": 0, "oi_day_high": 0, "oi_day_low": 0,
            "net_change": round(book.ltp - book.close, 2) if book.close else 0.0,
            "lower_circuit_limit": lower, "upper_circuit_limit": upper,
            "ohlc": ohlc,
            "depth": {"buy": depth(book.bid, book.bid_quantity, inst.lot_size),
                      "sell": depth(book.ask, book.ask_quantity, inst.lot_size)},
        }
    return out


def index_quote(ex: Exchange, key: str, mode: str | None, now: float) -> dict[str, Any] | None:
    """An index not listed as an instrument, quoted at its underlying's spot (``spots``,
    :meth:`set_spot`) as Kite quotes an index: a last price, no depth, no volume."""
    underlying, token = INDEX_UNDERLYINGS.get(key, ("", 0))
    spot = ex.spots.get(underlying)
    if spot is None:
        return None
    ohlc = {"open": spot, "high": spot, "low": spot, "close": spot}
    if mode == "ltp":
        return {"instrument_token": token, "last_price": spot}
    out: dict[str, Any] = {"instrument_token": token, "last_price": spot, "ohlc": ohlc}
    if mode != "ohlc":
        out.update(timestamp=ist(now), net_change=0.0)
    return out


def instruments_csv(ex: Exchange, exchange: str | None) -> str:
    """``GET /instruments[/{exchange}]``: Kite's CSV dump of the listed instruments."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["instrument_token", "exchange_token", "tradingsymbol", "name",
                     "last_price", "expiry", "strike", "tick_size", "lot_size",
                     "instrument_type", "segment", "exchange"])
    for inst in ex.instruments.values():
        if exchange is not None and inst.exchange != exchange:
            continue
        writer.writerow([inst.instrument_token, inst.instrument_token >> 8,
                         inst.tradingsymbol, inst.name, 0, inst.expiry, inst.strike,
                         inst.tick_size, inst.lot_size, inst.instrument_type, inst.segment,
                         inst.exchange])
    return buffer.getvalue()


def book_tick(inst: FakeInstrument, book: Book, now: float) -> Tick:
    """The instrument's full-mode tick: the REST quote's numbers, one depth level."""
    def side(price: float, quantity: int) -> tuple[DepthLevel, ...]:
        top = DepthLevel(price, quantity, max(1, quantity // inst.lot_size)) \
            if price > 0 and quantity > 0 else DepthLevel(0.0, 0, 0)
        return (top, *([DepthLevel(0.0, 0, 0)] * 4))

    return Tick(inst.instrument_token, "full",
                segment_of(inst.instrument_token) != SEGMENT_INDICES, book.ltp,
                last_quantity=book.last_quantity, average_price=book.ltp,
                volume=book.volume, buy_quantity=book.bid_quantity,
                sell_quantity=book.ask_quantity, open=book.open, high=book.high,
                low=book.low, close=book.close, last_trade_time=book.last_trade_at, oi=0,
                exchange_timestamp=now, depth_buy=side(book.bid, book.bid_quantity),
                depth_sell=side(book.ask, book.ask_quantity))


def instrument_by_token(ex: Exchange, instrument_token: int) -> FakeInstrument | None:
    """The listed instrument with this token, None if there is none."""
    for inst in ex.instruments.values():
        if inst.instrument_token == instrument_token:
            return inst
    return None


def depth(price: float, quantity: int, lot: int) -> list[dict[str, Any]]:
    """Five levels; only the touch is populated, empty levels are zeros as at Kite."""
    levels: list[dict[str, Any]] = [{"price": 0, "quantity": 0, "orders": 0} for _ in range(5)]
    if price > 0 and quantity > 0:
        levels[0] = {"price": price, "quantity": quantity, "orders": max(1, quantity // lot)}
    return levels
