"""The exchange behind the fake: its books and orders, matching, fills and the account's funds.

:class:`Exchange` holds the state the routes read and change (:mod:`.orders`,
:mod:`.market_data`, :mod:`.margins`). It does not lock: :class:`~.server.FakeKiteServer` calls
all of it under its one lock, and passes in ``now`` (the server's clock).

Order states: ``PUT ORDER REQ RECEIVED`` -> ``VALIDATION PENDING`` -> ``OPEN PENDING`` ->
``OPEN`` / ``COMPLETE`` / ``CANCELLED`` / ``REJECTED``; a partial fill is an ``UPDATE`` (in the
history and the postback; the book shows the order ``OPEN`` with its fills); a modification
``MODIFY VALIDATION PENDING`` -> ``MODIFY PENDING`` -> ``MODIFIED`` -> ``OPEN`` (held in
``MODIFY PENDING`` for ``modify_pending_s``, working at its old terms meanwhile); a cancel
``CANCEL PENDING`` first for ``cancel_pending_s``. Every change is kept in the order's history
and, once the order is visible, reported through ``on_order``. Simplified: one price
level per side (marketable orders fill at the touch, up to the touch quantity, which they use
up; the rest rests at its limit, a MARKET order at its protection price; IOC remainders are
cancelled). Funds: a buy is refused (asynchronous ``REJECTED`` with Kite's RMS text) when its
premium exceeds what is available; a sell is not margin-checked.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...costs.margin import OptionLeg, short_margin
from ...sim.config import RulesConfig
from ...sim.positions import PositionLedger
from ...sim.rules import auto_protection_pct
from ...timeutil import IST, round_to_tick
from .errors import UNKNOWN_ORDER, input_error, margin_message, margin_raw
from .instruments import FakeInstrument
from .records import PARTIAL_FILL, Book, Order, ist, order_dict

_RULES = RulesConfig()


class Exchange:
    """Every instrument, book, order and trade, and the account's cash and positions.

    ``on_order`` hears every status change (and partial fill) of a visible order, as Kite's
    postback dict; ``on_book`` every change of a book (a new touch, a fill); the server hands
    both to the ticker.
    """

    def __init__(self, instruments: Iterable[FakeInstrument], *, margin: float,
                 spots: Mapping[str, float], short_margin_fraction: float,
                 cancel_pending_s: float, user_id: str,
                 on_order: Callable[[dict[str, Any]], None],
                 on_book: Callable[[FakeInstrument, Book, float], None]) -> None:
        self.instruments = {i.key: i for i in instruments}
        self.margin = margin
        #: Underlying -> its price, for the naked short margin (``short_margin_fraction x
        #: spot``); an underlying missing here is taken at the highest strike of its legs.
        self.spots: dict[str, float] = dict(spots)
        self.short_margin_fraction = short_margin_fraction
        self.cancel_pending_s = cancel_pending_s
        #: How long an accepted modification stays ``MODIFY PENDING`` before the exchange
        #: applies it (0: at once); the order keeps working at its old terms meanwhile.
        self.modify_pending_s = 0.0
        #: Modifications Kite accepts per order (the next is refused).
        self.max_modifications = 25
        self.user_id = user_id
        self.books: dict[str, Book] = {}
        self.orders: dict[str, Order] = {}
        self.trades: list[dict[str, Any]] = []
        self.cash = 0.0  # premium received minus premium paid
        self.positions: dict[str, int] = {}  # instrument key -> signed units filled
        #: The same fills per instrument and product, with their average price and values
        #: (``GET /portfolio/positions``).
        self.ledger = PositionLedger()
        self._order_ids = itertools.count(261_124_000_000_001)
        self._exchange_ids = itertools.count(1_600_000_000_000_001)
        self._trade_ids = itertools.count(50_000_001)
        self._on_order = on_order
        self._on_book = on_book

    # ---------------------------------------------------------------- lookups

    def instrument(self, exchange: str, tradingsymbol: str) -> FakeInstrument:
        inst = self.instruments.get(f"{exchange}:{tradingsymbol}")
        if inst is None:
            raise KeyError(f"{exchange}:{tradingsymbol} is not listed on the fake server")
        return inst

    def next_order_id(self) -> str:
        return str(next(self._order_ids))

    def visible(self, now: float) -> list[Order]:
        """The order book as Kite shows it at ``now`` (orders a fault hides are left out)."""
        return [o for o in self.orders.values() if o.visible_at <= now]

    def visible_order(self, order_id: str, now: float) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.visible_at > now:
            raise input_error(UNKNOWN_ORDER)
        return order

    def order_dict(self, order: Order) -> dict[str, Any]:
        return order_dict(order, self.user_id)

    # ---------------------------------------------------------------- test controls

    def set_quote(self, inst: FakeInstrument, *, bid: float, ask: float,
                  bid_quantity: int | None, ask_quantity: int | None, ltp: float | None,
                  volume: int | None, now: float) -> None:
        """Set an instrument's touch (quantities default to 50 lots); resting orders that the
        new touch crosses fill against it."""
        book = self.books.setdefault(inst.key, Book())
        self.advance(now)
        book.bid, book.ask = float(bid), float(ask)
        book.bid_quantity = bid_quantity if bid_quantity is not None else 50 * inst.lot_size
        book.ask_quantity = ask_quantity if ask_quantity is not None else 50 * inst.lot_size
        if ltp is not None or book.ltp <= 0:
            book.ltp = float(ltp) if ltp is not None else (book.bid + book.ask) / 2.0
        if volume is not None:
            book.volume = int(volume)
        if book.close <= 0:
            book.open = book.high = book.low = book.close = book.ltp
        for order in list(self.orders.values()):
            if order.inst.key == inst.key and order.working:
                self.match(order, now)
            elif order.inst.key == inst.key and order.status == "TRIGGER PENDING":
                self._check_trigger(order, book, now)
        self._on_book(inst, book, now)

    def fill(self, order_id: str, quantity: int | None, price: float | None,
             now: float) -> None:
        """Fill a working order (all that is left by default) at ``price`` (its limit by
        default): the market traded through it."""
        self.advance(now)
        order = self.orders[order_id]
        if not order.working:
            raise ValueError(f"order {order_id} is {order.status}, not working")
        qty = order.leaves if quantity is None else quantity
        if not 0 < qty <= order.leaves:
            raise ValueError(f"cannot fill {qty} of {order.leaves} left")
        fill_price = price if price is not None else (order.price or order.limit)
        self.execute(order, qty, fill_price, now)

    def reject(self, order_id: str, message: str | None, raw: str | None, now: float) -> None:
        """Reject an order asynchronously, as Kite's RMS does (margin text by default)."""
        self.advance(now)
        order = self.orders[order_id]
        if order.terminal:
            raise ValueError(f"order {order_id} is already {order.status}")
        if message is None:
            message, raw = margin_message(95417.84, 74251.80), margin_raw(95417.84, 74251.80)
        order.arrived = True
        self.set_status(order, "REJECTED", now, message, raw or message)

    # ---------------------------------------------------------------- order lifecycle

    def advance(self, now: float) -> None:
        """Carry out everything due by ``now``: arrivals at the exchange, pending cancels and
        modifications."""
        for order in self.orders.values():
            if not order.arrived and not order.terminal and order.arrive_at <= now \
                    and order.visible_at <= now:
                self._arrive(order, now)
            if order.cancel_at is not None and order.cancel_at <= now and not order.terminal:
                self.finish_cancel(order, now)
            if order.modify_at is not None and order.modify_at <= now:
                self.finish_modify(order, now)

    def _arrive(self, order: Order, now: float) -> None:
        order.arrived = True
        if order.reject_with is not None:
            message, raw = order.reject_with
            self.set_status(order, "REJECTED", now, message, raw)
            return
        book = self.books.get(order.inst.key, Book())
        if order.trigger_price > 0:  # a stop order: waits for its trigger
            order.exchange_order_id = str(next(self._exchange_ids))
            order.exchange_at = now
            self.set_status(order, "TRIGGER PENDING", now)
            self._check_trigger(order, book, now)
            return
        order.limit = order.price if order.order_type == "LIMIT" else \
            self._protection_price(order, book)
        if order.side == "BUY":
            reference = order.limit if math.isfinite(order.limit) else book.ask
            required = order.quantity * reference
            available = self.available()
            if required > available + 1e-6:
                self.set_status(order, "REJECTED", now, margin_message(required, available),
                                margin_raw(required, available))
                return
        order.exchange_order_id = str(next(self._exchange_ids))
        order.exchange_at = now
        self.set_status(order, "OPEN", now)
        self.match(order, now)

    def _check_trigger(self, order: Order, book: Book, now: float) -> None:
        """A stop order whose trigger the last price reached works from now on: at its limit
        (SL) or as a MARKET order (SL-M)."""
        if order.status != "TRIGGER PENDING" or book.ltp <= 0:
            return
        buy = order.side == "BUY"
        if (book.ltp < order.trigger_price) if buy else (book.ltp > order.trigger_price):
            return
        order.limit = order.price if order.order_type == "SL" else \
            self._protection_price(order, book)
        self.set_status(order, "OPEN", now)
        self.match(order, now)

    def _protection_price(self, order: Order, book: Book) -> float:
        """Where a MARKET order stops: the touch moved by its market protection percent."""
        buy = order.side == "BUY"
        reference = (book.ask if buy else book.bid) or book.ltp
        if reference <= 0:
            return math.inf if buy else 0.0
        pct = order.market_protection if order.market_protection > 0 else \
            auto_protection_pct(book.ltp or reference, _RULES)
        tick = order.inst.tick_size
        if buy:
            return round_to_tick(reference * (1.0 + pct / 100.0), tick, "down")
        return max(tick, round_to_tick(reference * (1.0 - pct / 100.0), tick, "up"))

    def match(self, order: Order, now: float) -> None:
        """Fill against the opposite touch as far as price and its quantity allow."""
        book = self.books.get(order.inst.key)
        if book is not None and order.working:
            if order.side == "BUY":
                price, available = book.ask, book.ask_quantity
                crosses = price > 0 and price <= order.limit + 1e-9
            else:
                price, available = book.bid, book.bid_quantity
                crosses = price > 0 and price >= order.limit - 1e-9
            if crosses and available > 0:
                qty = min(order.leaves, available)
                if order.side == "BUY":
                    book.ask_quantity -= qty
                else:
                    book.bid_quantity -= qty
                self.execute(order, qty, price, now)
        if order.validity == "IOC" and order.working:
            self.finish_cancel(order, now)

    def execute(self, order: Order, quantity: int, price: float, now: float) -> None:
        """One fill: the order, the book's last trade, the account, the trade book."""
        order.filled += quantity
        order.filled_value += quantity * price
        sign = 1 if order.side == "BUY" else -1
        self.cash -= sign * quantity * price
        key = order.inst.key
        self.positions[key] = self.positions.get(key, 0) + sign * quantity
        self.ledger.fill(order.inst.tradingsymbol, order.inst.exchange, order.product, sign,
                         quantity, price)
        book = self.books.setdefault(order.inst.key, Book())
        book.ltp, book.last_quantity, book.last_trade_at = price, quantity, now
        book.volume += quantity
        book.high = max(book.high, price)
        book.low = min(book.low, price) if book.low > 0 else price
        self._on_book(order.inst, book, now)
        for stop in list(self.orders.values()):  # a trade can reach a stop's trigger
            if stop.inst.key == key and stop.status == "TRIGGER PENDING":
                self._check_trigger(stop, book, now)
        self.trades.append({
            "trade_id": str(next(self._trade_ids)), "order_id": order.order_id,
            "exchange": order.inst.exchange, "tradingsymbol": order.inst.tradingsymbol,
            "instrument_token": order.inst.instrument_token, "product": order.product,
            "average_price": price, "quantity": quantity,
            "exchange_order_id": order.exchange_order_id,
            "transaction_type": order.side, "fill_timestamp": ist(now),
            "order_timestamp": dt.datetime.fromtimestamp(now, IST).strftime("%H:%M:%S"),
            "exchange_timestamp": ist(now),
        })
        if order.leaves == 0:
            order.pending_change = order.modify_at = None  # nothing left to modify
            self.set_status(order, "COMPLETE", now)
        else:  # Kite's partial-fill update; the book still shows the order as it stands
            self.set_status(order, order.status, now, shown=PARTIAL_FILL)

    def finish_cancel(self, order: Order, now: float) -> None:
        order.arrived = True  # a cancelled pending order never reaches the exchange
        order.cancelled = order.leaves
        order.cancel_at = None
        order.pending_change = order.modify_at = None  # a cancel ends a pending modification
        amo_waiting = order.status == "AMO REQ RECEIVED"
        self.set_status(order, "CANCELLED AMO" if amo_waiting else "CANCELLED", now)

    def open_market(self, now: float) -> None:
        """The session opens: after-market orders waiting go to the exchange."""
        for order in self.orders.values():
            if order.status == "AMO REQ RECEIVED":
                order.arrive_at = now
                self.set_status(order, "OPEN PENDING", now)
        self.advance(now)

    def modify(self, order: Order, change: dict[str, Any], now: float) -> None:
        """An accepted modification (checked by the route): ``MODIFY VALIDATION PENDING``,
        ``MODIFY PENDING``, then applied at once or after ``modify_pending_s``."""
        order.modifications += 1
        order.modified_at = now
        self.set_status(order, "MODIFY VALIDATION PENDING", now)
        self.set_status(order, "MODIFY PENDING", now)
        order.pending_change = change
        order.modify_at = now + self.modify_pending_s
        if self.modify_pending_s <= 0:
            self.finish_modify(order, now)

    def finish_modify(self, order: Order, now: float) -> None:
        """The exchange applies the pending modification: ``MODIFIED``, then ``OPEN`` at the
        new terms, matched against the touch again. What filled meanwhile stays filled: the
        new quantity is the order's total, so a quantity at or below the fills ends it."""
        change, order.pending_change, order.modify_at = order.pending_change, None, None
        if change is None or order.terminal or order.status == "CANCEL PENDING":
            return
        self.set_status(order, "MODIFIED", now)
        order.quantity = max(order.filled, int(change.get("quantity", order.quantity)))
        order.order_type = str(change.get("order_type", order.order_type))
        order.price = float(change.get("price", order.price)) \
            if order.order_type == "LIMIT" else 0.0
        order.market_protection = int(change.get("market_protection",
                                                 order.market_protection))
        order.validity = str(change.get("validity", order.validity))
        book = self.books.get(order.inst.key, Book())
        order.limit = order.price if order.order_type == "LIMIT" else \
            self._protection_price(order, book)
        if order.leaves == 0:
            self.set_status(order, "COMPLETE", now)
            return
        self.set_status(order, "OPEN", now)
        self.match(order, now)

    def set_status(self, order: Order, status: str, now: float, message: str | None = None,
                   raw: str | None = None, *, shown: str | None = None) -> None:
        """The order is now in ``status``: kept in its history and streamed (as ``shown``
        when given: a partial fill's ``UPDATE``)."""
        order.status = status
        if message is not None:
            order.status_message, order.status_message_raw = message, raw
        if order.arrived and order.exchange_order_id is not None:
            order.updated_at = now
        data = self.snapshot(order, shown)
        if order.visible_at <= now:
            self._on_order(data)

    def snapshot(self, order: Order, shown: str | None = None) -> dict[str, Any]:
        """Add the order as it stands to its history (``GET /orders/{id}``)."""
        data = order_dict(order, self.user_id, shown)
        order.history.append(data)
        return data

    # ---------------------------------------------------------------- funds

    def blocked(self) -> float:
        """Funds the open buys hold: their premium at their working price."""
        return sum(o.leaves * o.limit for o in self.orders.values()
                   if o.side == "BUY" and o.working and math.isfinite(o.limit))

    def available(self) -> float:
        return self.margin + self.cash - self.blocked() - self.short_margin()

    def held_legs(self) -> list[OptionLeg]:
        """The positions filled so far, as margin legs."""
        legs = []
        for key, units in self.positions.items():
            leg = option_leg(self.instruments.get(key), units)
            if leg is not None:
                legs.append(leg)
        return legs

    def spots_for(self, legs: list[OptionLeg]) -> dict[str, float]:
        spots = {}
        for leg in legs:
            if leg.underlying in self.spots:
                spots[leg.underlying] = self.spots[leg.underlying]
            else:
                spots[leg.underlying] = max(spots.get(leg.underlying, 0.0), leg.strike)
        return spots

    def short_margin(self) -> float:
        """The margin the positions' shorts hold (``utilised.span``)."""
        legs = self.held_legs()
        return short_margin(legs, self.spots_for(legs), self.short_margin_fraction)


def option_leg(inst: FakeInstrument | None, units: int,
               premium: float = 0.0) -> OptionLeg | None:
    """An option as a margin leg of ``units`` signed units; None for anything else."""
    if inst is None or inst.instrument_type not in ("CE", "PE") or not inst.expiry or not units:
        return None
    return OptionLeg(underlying=inst.name, expiry=dt.date.fromisoformat(inst.expiry),
                     kind=inst.instrument_type, strike=inst.strike, quantity=units,
                     premium=premium)
