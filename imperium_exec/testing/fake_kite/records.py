"""What the fake keeps: an instrument's touch (:class:`Book`), an order (:class:`Order`), a
request received (:class:`RecordedRequest`); and an order in Kite's JSON shape (:func:`order_dict`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ...timeutil import IST
from .instruments import FakeInstrument

#: The states an order ends in.
TERMINAL = ("COMPLETE", "CANCELLED", "CANCELLED AMO", "REJECTED")
#: The states of an order at the exchange that can still fill: open, and on its way to a
#: cancel or a modification (until the exchange applies it, the order works as it was).
WORKING = ("OPEN", "CANCEL PENDING", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED")
#: What Kite streams (and keeps in the history) for a partial fill; the order book still
#: shows the order OPEN with its filled quantity.
PARTIAL_FILL = "UPDATE"


def ist(epoch: float | None) -> str | None:
    """Kite's timestamp format: naive IST ``YYYY-MM-DD HH:MM:SS``."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, IST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received, for tests to assert on what the client sent."""

    at: float
    method: str
    path: str
    route: str | None
    form: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None  # a JSON body, parsed (margins)


@dataclass
class Book:
    """One instrument's market: its touch (one level a side), last trade and day's OHLC."""

    bid: float = 0.0
    bid_quantity: int = 0
    ask: float = 0.0
    ask_quantity: int = 0
    ltp: float = 0.0
    last_quantity: int = 0
    last_trade_at: float | None = None
    volume: int = 0
    close: float = 0.0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0


@dataclass(eq=False)
class Order:
    """One order as the exchange holds it; :func:`order_dict` shows it as Kite does."""

    order_id: str
    inst: FakeInstrument
    variety: str
    side: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: float  # as sent; 0 for MARKET and SL-M
    market_protection: int
    tag: str | None
    placed_at: float
    visible_at: float
    arrive_at: float
    pre_status: str = "OPEN PENDING"
    reject_with: tuple[str, str] | None = None
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_order_id: str | None = None
    exchange_at: float | None = None
    updated_at: float | None = None
    arrived: bool = False
    limit: float = 0.0  # working price at the exchange: the limit, or the protection price
    filled: int = 0
    filled_value: float = 0.0
    cancelled: int = 0
    cancel_at: float | None = None
    #: Modifications accepted (Kite allows 25 an order), when the last one was asked for,
    #: and one the exchange has not applied yet (``modify_pending_s``): the new values, due
    #: at ``modify_at``.
    modifications: int = 0
    modified_at: float | None = None
    pending_change: dict[str, Any] | None = None
    modify_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: A stop order's trigger (SL, SL-M; 0 for the rest): it waits ``TRIGGER PENDING`` until
    #: the last price reaches it, then works as a LIMIT (SL) or a MARKET (SL-M).
    trigger_price: float = 0.0

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled - self.cancelled

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def working(self) -> bool:
        """At the exchange and able to fill."""
        return self.arrived and self.status in WORKING and self.leaves > 0


def order_dict(o: Order, user_id: str, status: str | None = None) -> dict[str, Any]:
    """One order in Kite's shape (2025 mock fields), placed by ``user_id``; ``status`` shows
    it in another state than its own (``UPDATE``: a partial fill's postback). A modified
    order is ``modified`` with its ``order_timestamp`` at the modification (Kite's order
    history mock)."""
    # Kite's CANCELLED rows keep their pending_quantity (see the official mock).
    cancelled = o.status in ("CANCELLED", "CANCELLED AMO")
    pending = o.leaves if not o.terminal else o.cancelled if cancelled else 0
    average = o.filled_value / o.filled if o.filled else 0.0
    return {
        "account_id": user_id, "placed_by": user_id,
        "order_id": o.order_id, "exchange_order_id": o.exchange_order_id,
        "parent_order_id": None,
        "status": status or o.status,
        "status_message": o.status_message, "status_message_raw": o.status_message_raw,
        "order_timestamp": ist(o.modified_at or o.placed_at),
        "exchange_update_timestamp": ist(o.updated_at),
        "exchange_timestamp": ist(o.exchange_at),
        "variety": o.variety, "modified": o.modifications > 0, "exchange": o.inst.exchange,
        "tradingsymbol": o.inst.tradingsymbol, "instrument_token": o.inst.instrument_token,
        "order_type": o.order_type, "transaction_type": o.side, "validity": o.validity,
        "validity_ttl": 0, "product": o.product, "quantity": o.quantity,
        "disclosed_quantity": 0, "price": o.price, "trigger_price": o.trigger_price,
        "average_price": round(average, 4), "filled_quantity": o.filled,
        "pending_quantity": pending, "cancelled_quantity": o.cancelled,
        "market_protection": o.market_protection, "meta": {}, "tag": o.tag,
        "tags": [o.tag] if o.tag else [], "guid": f"fake-{o.order_id}",
    }
