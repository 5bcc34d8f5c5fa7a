"""The portfolio route: ``GET /portfolio/positions``.

Answers Kite's ``{"net": [...], "day": [...]}`` from the exchange's fills, one row per
instrument and product traded (flat ones included, as Kite lists a position closed today).
``quantity`` is net units, ``average_price`` the average cost of what is held
(:mod:`imperium_exec.sim.positions`), ``pnl`` what was sold less what was bought plus the net
units at the last price. Simplified: nothing is carried from an earlier day (``overnight_quantity``
0), so ``day`` repeats ``net``; ``multiplier`` is 1 (index options).
"""

from __future__ import annotations

from typing import Any

from ...sim.positions import NetPosition
from .exchange import Exchange
from .records import Book


def positions(ex: Exchange) -> dict[str, Any]:
    """``GET /portfolio/positions``."""
    rows = [position_dict(ex, held) for held in ex.ledger.held()]
    return {"net": rows, "day": [dict(row) for row in rows]}


def position_dict(ex: Exchange, held: NetPosition) -> dict[str, Any]:
    """One position in Kite's shape."""
    inst = ex.instruments.get(f"{held.exchange}:{held.tradingsymbol}")
    book = ex.books.get(f"{held.exchange}:{held.tradingsymbol}", Book())
    last = book.ltp
    pnl = held.sell_value - held.buy_value + held.quantity * last
    unrealised = held.quantity * (last - held.average_price) if held.quantity else 0.0
    buy_price = held.buy_value / held.bought if held.bought else 0.0
    sell_price = held.sell_value / held.sold if held.sold else 0.0
    return {
        "tradingsymbol": held.tradingsymbol, "exchange": held.exchange,
        "instrument_token": inst.instrument_token if inst is not None else 0,
        "product": held.product, "quantity": held.quantity, "overnight_quantity": 0,
        "multiplier": 1, "average_price": round(held.average_price, 4),
        "close_price": book.close, "last_price": last,
        "value": round(held.sell_value - held.buy_value, 2), "pnl": round(pnl, 2),
        "m2m": round(pnl, 2), "unrealised": round(unrealised, 2),
        "realised": round(pnl - unrealised, 2),
        "buy_quantity": held.bought, "buy_price": round(buy_price, 4),
        "buy_value": round(held.buy_value, 2), "buy_m2m": round(held.buy_value, 2),
        "sell_quantity": held.sold, "sell_price": round(sell_price, 4),
        "sell_value": round(held.sell_value, 2), "sell_m2m": round(held.sell_value, 2),
        "day_buy_quantity": held.bought, "day_buy_price": round(buy_price, 4),
        "day_buy_value": round(held.buy_value, 2),
        "day_sell_quantity": held.sold, "day_sell_price": round(sell_price, 4),
        "day_sell_value": round(held.sell_value, 2),
    }
