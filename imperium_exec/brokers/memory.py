"""A minimal in-memory broker for unit tests: a fixed book, instant fills, scripted failures.

It is deliberately simple (no queue, no impact, no rate limits): the realistic market is
:class:`~imperium_exec.brokers.paper.PaperBroker`. What it does offer is exact control: a queue
of exceptions the next ``place_order`` calls raise, ghost orders (recorded although the call
timed out), a blocking latency, and manual fills of resting orders. With ``modify=True`` it
offers Kite's modify too (``max_modifications`` an order, then Kite's refusal), and a queue of
exceptions the next ``modify_order`` calls raise.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import replace

from ..clock import Clock, RealClock
from ..request import OrderType, Side
from ..timeutil import SESSION_SECONDS
from .base import (
    BrokerCapabilities,
    BrokerOrder,
    ModifyInstruction,
    OrderInstruction,
    OrderStatus,
    Quote,
)
from .errors import BrokerError, InputException, NetworkException
from .kite.errors import KITE_ERRORS

#: The index segments' exchanges: only options and futures (NFO, BFO) have a default book.
_INDEX_EXCHANGES = frozenset({"NSE", "BSE"})


class InMemoryBroker:
    """Fills marketable orders at the touch at once; rests the rest until :meth:`fill`."""

    def __init__(self, *, clock: Clock | None = None, bid: float = 100.0, ask: float = 100.5,
                 volume_per_second: float = 100.0, latency_s: float = 0.0,
                 name: str = "memory", touch_quantity: int | None = None,
                 modify: bool = False, max_modifications: int | None = 25) -> None:
        self.name = name
        self.clock = clock or RealClock()
        self.latency_s = latency_s
        self._book: dict[str, tuple[float, float]] = {}
        self._default_book = (bid, ask)
        self._volume_per_second = volume_per_second
        self._started = self.clock.now()
        self._orders: dict[str, BrokerOrder] = {}
        self._limits: dict[str, float] = {}
        self._failures: deque[tuple[BaseException, bool, float]] = deque()
        #: Units a marketable order fills at most (None: all of it); the rest rests at the
        #: touch, as a MARKET order rests at Kite's protection price in a thin book.
        self.touch_quantity = touch_quantity
        self._hidden_until: dict[str, float] = {}  # a late order's id -> when it shows
        self._ids = itertools.count(250_000_000_000_001)
        self._lock = threading.Lock()
        self.place_calls = 0
        self.cancel_calls = 0
        self.modify_calls = 0
        self.placed: list[OrderInstruction] = []
        #: Every modification accepted: (order id, the change).
        self.modified: list[tuple[str, ModifyInstruction]] = []
        self._modify_failures: deque[tuple[BaseException, bool]] = deque()
        self._modifications: dict[str, int] = {}
        self.max_modifications = max_modifications
        #: Quotes are this object's own book: read as a pushed stream, no REST and no limits;
        #: its errors are the Kite-named ones of :mod:`.errors`.
        self.capabilities = BrokerCapabilities(
            errors=KITE_ERRORS, local_market_data=True, clock=self.clock,
            modify_order=self.modify_order if modify else None,
            max_modifications=max_modifications if modify else None)

    # ---------------------------------------------------------------- test controls

    def set_book(self, tradingsymbol: str, bid: float, ask: float) -> None:
        with self._lock:
            self._book[tradingsymbol] = (bid, ask)

    def fail_next(self, *errors: BaseException, record: bool = False,
                  late_by_s: float = 0.0) -> None:
        """The next ``place_order`` calls raise these, in order.

        ``record=True`` stores the order anyway before raising (the ghost order of a timeout
        after sending); ``late_by_s`` keeps it out of the order book for that long (Kite's "timed
        out" order that lands seconds later), already filled if it was marketable.
        """
        with self._lock:
            self._failures.extend((e, record, late_by_s) for e in errors)

    def fail_next_modify(self, *errors: BaseException, apply: bool = False) -> None:
        """The next ``modify_order`` calls raise these, in order; ``apply=True`` carries the
        modification out before raising (a reply lost after Kite applied it)."""
        with self._lock:
            self._modify_failures.extend((e, apply) for e in errors)

    def modifications(self, order_id: str) -> int:
        """Modifications accepted for ``order_id``."""
        with self._lock:
            return self._modifications.get(order_id, 0)

    def fill(self, order_id: str, quantity: int | None = None, price: float | None = None) -> None:
        """Fill a resting order (all of it by default) at ``price`` (its limit by default)."""
        with self._lock:
            order = self._orders[order_id]
            if order.status.is_terminal:
                raise ValueError(f"order {order_id} is {order.status}")
            qty = order.quantity - order.filled_quantity if quantity is None else quantity
            fill_price = price if price is not None else self._limits[order_id]
            self._orders[order_id] = self._apply_fill(order, qty, fill_price)

    def reject(self, order_id: str, message: str) -> None:
        """Turn an open order into an asynchronous REJECTED, as Kite's RMS does."""
        with self._lock:
            order = self._orders[order_id]
            self._orders[order_id] = replace(order, status=OrderStatus.REJECTED,
                                             status_message=message, pending_quantity=0)

    # ---------------------------------------------------------------- Broker protocol

    def place_order(self, order: OrderInstruction) -> str:
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.place_calls += 1
            failure = self._failures.popleft() if self._failures else None
            if failure is not None and not failure[1]:
                raise failure[0]
            order_id = str(next(self._ids))
            self._orders[order_id] = self._accept(order_id, order)
            self.placed.append(order)
            if failure is not None and failure[2] > 0:
                self._hidden_until[order_id] = self.clock.now() + failure[2]
        if failure is not None:
            raise failure[0]
        return order_id

    def cancel_order(self, order_id: str) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.cancel_calls += 1
            order = self._orders.get(order_id)
            if order is None:
                raise BrokerError(f"order {order_id} not found", 404)
            if order.status.is_terminal:
                raise BrokerError(f"order {order_id} is already {order.status}", 400)
            self._orders[order_id] = replace(order, status=OrderStatus.CANCELLED,
                                             pending_quantity=0)

    def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
        """Kite's modify, at once: the new total quantity and price of a resting order (a
        price through the touch fills it at the touch, as a new order would)."""
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self.modify_calls += 1
            failure = self._modify_failures.popleft() if self._modify_failures else None
            if failure is not None and not failure[1]:
                raise failure[0]
            order = self._orders.get(order_id)
            if order is None:
                raise InputException(f"Couldn't find that `order_id` ({order_id}).")
            if order.status is not OrderStatus.OPEN:
                raise InputException("Order cannot be modified as it is being processed. "
                                     "Try later.")
            done = self._modifications.get(order_id, 0)
            if self.max_modifications is not None and done >= self.max_modifications:
                raise NetworkException("Maximum allowed order modifications exceeded.", 400)
            if change.quantity <= order.filled_quantity:
                raise InputException(f"Quantity should be more than the filled quantity "
                                     f"{order.filled_quantity}.")
            self._modifications[order_id] = done + 1
            self.modified.append((order_id, change))
            order = replace(order, quantity=change.quantity,
                            pending_quantity=change.quantity - order.filled_quantity,
                            exchange_timestamp=self.clock.now())
            bid, ask = self._book.get(order.tradingsymbol, self._default_book)
            touch = ask if order.side is Side.BUY else bid
            price = touch if change.limit_price is None else change.limit_price
            self._limits[order_id] = price
            crosses = change.order_type is OrderType.MARKET or (
                price >= ask if order.side is Side.BUY else price <= bid)
            if crosses:
                left = order.quantity - order.filled_quantity
                quantity = left if self.touch_quantity is None \
                    else min(left, self.touch_quantity)
                order = self._apply_fill(order, quantity, touch)
            self._orders[order_id] = order
        if failure is not None:
            raise failure[0]

    def orders(self) -> list[BrokerOrder]:
        with self._lock:
            now = self.clock.now()
            return [o for i, o in self._orders.items() if self._hidden_until.get(i, now) <= now]

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        """The instrument's book (the default book unless :meth:`set_book` gave it one); an
        index (an ``NSE``/``BSE`` key) has no quote until given a book."""
        book = self._book.get(tradingsymbol)
        if book is None and exchange in _INDEX_EXCHANGES:
            return None
        bid, ask = book or self._default_book
        now = self.clock.now()
        volume = int((now - self._started) * self._volume_per_second)
        return Quote(tradingsymbol=tradingsymbol, timestamp=now, bid=bid, ask=ask,
                     ltp=(bid + ask) / 2, volume=volume, bid_quantity=1000, ask_quantity=1000)

    def session_seconds(self, epoch: float) -> float:
        return min(max(0.0, epoch - self._started), float(SESSION_SECONDS))

    # ---------------------------------------------------------------- internals

    def _accept(self, order_id: str, order: OrderInstruction) -> BrokerOrder:
        bid, ask = self._book.get(order.tradingsymbol, self._default_book)
        touch = ask if order.side is Side.BUY else bid
        marketable = order.order_type is OrderType.MARKET or (
            order.limit_price is not None
            and (order.limit_price >= ask if order.side is Side.BUY else order.limit_price <= bid)
        )
        resting = BrokerOrder(
            order_id=order_id, tag=order.tag, tradingsymbol=order.tradingsymbol,
            exchange=order.exchange, side=order.side, quantity=order.quantity,
            filled_quantity=0, average_price=0.0, status=OrderStatus.OPEN,
            pending_quantity=order.quantity, exchange_timestamp=self.clock.now(),
        )
        if marketable:
            quantity = order.quantity if self.touch_quantity is None \
                else min(order.quantity, self.touch_quantity)
            self._limits[order_id] = touch if order.limit_price is None else order.limit_price
            filled = self._apply_fill(resting, quantity, touch)
            if order.validity == "IOC" and not filled.status.is_terminal:
                return replace(filled, status=OrderStatus.CANCELLED, pending_quantity=0)
            return filled
        if order.validity == "IOC":
            return replace(resting, status=OrderStatus.CANCELLED, pending_quantity=0)
        if order.limit_price is not None:
            self._limits[order_id] = order.limit_price
        return resting

    def _apply_fill(self, order: BrokerOrder, quantity: int, price: float) -> BrokerOrder:
        filled_before = order.filled_quantity
        value_before = order.average_price * filled_before if filled_before else 0.0
        filled = filled_before + quantity
        average = (value_before + price * quantity) / filled
        status = OrderStatus.COMPLETE if filled >= order.quantity else OrderStatus.OPEN
        return replace(order, filled_quantity=filled, average_price=average, status=status,
                       pending_quantity=order.quantity - filled,
                       exchange_timestamp=self.clock.now())


