"""The broker protocol the engine drives, and the value types that cross it.

Broker methods are plain blocking calls (kiteconnect is synchronous ``requests``); the engine runs
them in a bounded thread pool and never on the GUI thread. Implementations must be thread-safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ..request import OrderType, Side


class OrderStatus(StrEnum):
    """Kite's order states, folded to what the engine needs to know."""

    PENDING = "PENDING"  # PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING, ...
    OPEN = "OPEN"  # resting at the exchange; may be partly filled
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"  # may carry fills (a partly filled IOC ends here)
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderInstruction:
    """One child order as the broker receives it. Prices are already on the tick grid."""

    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None
    product: str
    validity: str
    tag: str
    market_protection: int | None = None  # set for MARKET orders
    variety: str = "regular"
    tick_size: float | None = None  # the instrument's tick, for brokers that format prices


@dataclass(frozen=True, slots=True)
class MarginLeg:
    """One leg of a basket whose margin is asked for before anything is sent."""

    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int  # units
    order_type: OrderType = OrderType.MARKET
    price: float | None = None  # the limit price, or None (the broker prices at the market)
    product: str = "NRML"


@dataclass(frozen=True, slots=True)
class MarginCheck:
    """What a basket needs against what the account has, in rupees (Kite's basket margins
    with ``consider_positions``: the account's open positions count towards the hedge)."""

    required: float  # margin the whole basket blocks once all of it has filled
    available: float  # the account's margin available now
    #: Margin the legs would need one by one, without the hedge benefit (for the message).
    required_without_hedge: float | None = None

    @property
    def shortfall(self) -> float:
        return max(0.0, self.required - self.available)


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """A snapshot of one order from the broker's order book."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int
    filled_quantity: int
    average_price: float  # of the filled quantity; 0.0 when nothing filled
    status: OrderStatus
    status_message: str | None = None
    pending_quantity: int = 0
    exchange_timestamp: float | None = None  # epoch seconds of the last exchange update

    @property
    def filled_value(self) -> float:
        """Rupees traded so far: average price times filled quantity."""
        return self.average_price * self.filled_quantity


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and traded volume for one instrument at one moment."""

    tradingsymbol: str
    timestamp: float  # epoch seconds
    bid: float | None
    ask: float | None
    ltp: float | None
    volume: int  # cumulative traded volume for the session, in units
    bid_quantity: int = 0
    ask_quantity: int = 0

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2.0
        return self.ltp


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of an option chain: the call and the put, quoted."""

    strike: float
    call: Quote
    put: Quote


@dataclass(frozen=True, slots=True)
class OptionChain:
    """An expiry's strikes around the money, as the desk shows and prices them."""

    underlying: str
    expiry: dt.date
    spot: float  # NaN while the index has no price yet
    atm_strike: float
    rows: tuple[ChainRow, ...]
    lot_size: int  # units per lot of these options
    taken_at: float  # epoch seconds the quotes were read (the broker's clock)


@runtime_checkable
class OptionChainSource(Protocol):
    """What the desk's option chain needs: the paper broker provides it, and over Kite the
    desk's :class:`~imperium_exec.widgets.desk.live.KiteChain` does (from the engine's market
    data). Blocking: call it off the GUI thread."""

    def option_chain(self, underlying: str, *, strikes_each_side: int) -> OptionChain:
        """The nearest expiry, ``strikes_each_side`` strikes either side of the money."""
        ...


@dataclass(frozen=True, slots=True)
class StreamHandlers:
    """Where a broker's push stream delivers, on the engine's loop thread.

    ``on_quote(key, quote)`` with Kite's ``"EXCHANGE:SYMBOL"`` key; ``on_order`` for every
    order update; ``on_state(connected)`` when the connection comes up or drops (updates sent
    while it was down are lost); ``on_session_lost(reason)`` when the broker refuses the token.
    """

    on_quote: Callable[[str, Quote], None]
    on_order: Callable[[BrokerOrder], None]
    on_state: Callable[[bool], None]
    on_session_lost: Callable[[str], None]


@runtime_checkable
class Broker(Protocol):
    """What the engine needs from a broker. All calls but ``session_seconds`` may block; all
    must be thread-safe."""

    #: Route name written to telemetry ("paper", "kite", ...).
    name: str

    def place_order(self, order: OrderInstruction) -> str:
        """Send one order; return the broker's order id. Raise a broker error on refusal."""
        ...

    def cancel_order(self, order_id: str) -> None:
        ...

    def orders(self) -> list[BrokerOrder]:
        """Today's order book: the source of fills and of reconciliation by tag."""
        ...

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        """Current book, or None when the broker has no market data for the instrument."""
        ...

    def session_seconds(self, epoch: float) -> float:
        """Seconds since the trading session opened at ``epoch`` (for intraday volume curves).

        Pure arithmetic, no I/O and no lock: the planner calls it on the caller's (GUI) thread.
        """
        ...


# Optional capabilities, looked up with getattr by the engine:
#
# ``rate_limits: AccountRateLimits``: the account's request limits (the engine's one budget
#     keeps to them). Absent: no limits (an in-process broker).
# ``local_market_data: bool``: quotes are the broker's own in-process book, free and instant
#     (the paper exchange): the engine reads them as a pushed stream, not over REST.
# ``quotes(keys) -> dict[str, Quote]``: one request for many instruments (Kite: at most 500).
# ``lists(tradingsymbol, exchange) -> bool | None``: whether the broker's instrument list has the
#     symbol, without a request (None: cannot tell yet). A parent for a symbol not listed is
#     refused before anything is sent.
# ``basket_margin(legs: list[MarginLeg]) -> MarginCheck``: the margin a basket needs with the
#     hedge benefit and the account's positions considered, and what is available (Kite's
#     ``POST /margins/basket?consider_positions=true`` and ``GET /user/margins``; the paper
#     exchange computes it itself). Absent: baskets are not margin-checked up front.
# ``open_stream(handlers, loop) -> BrokerStream | None``: a push stream of quotes and order
#     updates on the engine's loop (Kite's ticker WebSocket).
