"""The broker protocol the engine drives, and the value types that cross it.

Broker methods are plain blocking calls (kiteconnect is synchronous ``requests``); the engine runs
them in a bounded thread pool and never on the GUI thread. Implementations must be thread-safe.
"""

from __future__ import annotations

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
