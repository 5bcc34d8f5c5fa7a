"""Matching: how an order that reaches the exchange fills, rests, and fills while resting.

- On arrival, a MARKET order is a limit at its market-protection price (Kite's rule); it and a
  marketable LIMIT walk the book level by level at the level prices. What is left is cancelled
  (IOC) or rests at its limit (DAY), so a protected "market" order can stay OPEN.
- A resting order joins the queue behind the quantity displayed at its price. Each market step,
  the rest of the market's sell flow (for a resting buy) first eats that queue, then fills us.
  An order priced better than the market's own best is alone at the front and takes the flow at
  once; if the other side's quotes come to our price, we fill against the quantity offered there.
  A price the market never trades at or through never fills.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..request import OrderType
from .config import RulesConfig
from .market import OptionBook
from .orders import BUY, SELL, KiteStatus, SimOrder
from .paths import BLOCK
from .rules import auto_protection_pct

FillListener = Callable[[SimOrder, float, int, float], None]


class Matcher:
    """Matches arriving orders against a book and fills resting orders step by step."""

    def __init__(self, rules: RulesConfig, on_fill: FillListener) -> None:
        self._rules = rules
        self._on_fill = on_fill

    # ---------------------------------------------------------------- arrival

    def working_price(self, o: SimOrder, book: OptionBook) -> int:
        """The order's limit in ticks; for MARKET, the market-protection price around LTP."""
        order = o.order
        if order.order_type is OrderType.LIMIT and order.limit_price is not None:
            return round(order.limit_price / book.tick)
        reference = book.ltp
        mp = order.market_protection or -1
        pct = float(mp) if mp > 0 else auto_protection_pct(reference, self._rules)
        if o.side == BUY:
            return max(1, math.floor(reference * (1.0 + pct / 100.0) / book.tick + 1e-9))
        return max(1, math.ceil(reference * (1.0 - pct / 100.0) / book.tick - 1e-9))

    def arrive(self, o: SimOrder, book: OptionBook, k: int, m: float) -> None:
        """The order reaches the exchange at market second ``m`` (step ``k``)."""
        if o.rejection is not None:
            o.status = KiteStatus.REJECTED
            o.status_message, o.status_message_raw = o.rejection
            return
        o.limit_t = self.working_price(o, book)
        for price_t, lots in book.take(o.side, o.remaining // book.lot, o.limit_t, k, m):
            self._fill(o, book, book.price(price_t), lots * book.lot, m, counts=True)
        if o.remaining == 0:
            o.status = KiteStatus.COMPLETE
        elif o.order.validity == "IOC":
            o.status = KiteStatus.CANCELLED
        else:
            o.status = KiteStatus.OPEN
            o.queue_ahead = book.queue_at(o.side, o.limit_t, k, m)
            book.resting.append(o)

    def cancel(self, o: SimOrder, book: OptionBook) -> None:
        if o in book.resting:
            book.resting.remove(o)
        o.status = KiteStatus.CANCELLED

    # ---------------------------------------------------------------- resting orders

    def step(self, book: OptionBook, k: int) -> None:
        """One market step for the book's resting orders (the market's :data:`StepHook`)."""
        m = k * book.step_s
        touch = book.touch(k, m)
        b, i = divmod(k, BLOCK)
        blk = book.series.block(b)
        flow = {BUY: blk.sell_volume[i], SELL: blk.buy_volume[i]}  # what reaches our side
        budget = dict(flow)
        orders = sorted(book.resting, key=lambda o: (-o.side * o.limit_t, o.seq))
        for o in orders:
            side, price_t = o.side, o.limit_t
            own_best = touch.bid_t if side == BUY else touch.ask_t
            other_best = touch.ask_t if side == BUY else touch.bid_t
            crossed = other_best > 0 and (
                other_best <= price_t if side == BUY else other_best >= price_t)
            if crossed:
                offered = sum(lots for level_t, lots in book.levels(side, k, m)
                              if (level_t <= price_t if side == BUY else level_t >= price_t))
                qty = min(o.remaining, offered * book.lot)
                counts = True
            elif (own_best < price_t) if side == BUY else (own_best > price_t):
                o.queue_ahead = 0
                qty = min(o.remaining, budget[side])
                budget[side] -= qty
                counts = False
            elif own_best == price_t:
                eaten = min(o.queue_ahead, flow[side])
                o.queue_ahead -= eaten
                qty = min(o.remaining, flow[side] - eaten, budget[side])
                budget[side] -= qty
                counts = False
            else:
                continue
            qty -= qty % book.lot
            if qty > 0:
                self._fill(o, book, book.price(price_t), qty, m, counts=counts)
                if o.remaining == 0:
                    o.status = KiteStatus.COMPLETE
                    book.resting.remove(o)

    def _fill(self, o: SimOrder, book: OptionBook, price: float, qty: int, m: float, *,
              counts: bool) -> None:
        o.filled += qty
        o.value += price * qty
        book.on_fill(o.side, qty, price, m, counts=counts)
        self._on_fill(o, price, qty, m)
