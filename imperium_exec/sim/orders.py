"""An order at the paper exchange: its Kite status and its life from request to terminal state.

Shared by the market (the orders resting on a book) and the matcher (which fills them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..brokers.base import BrokerOrder, OrderInstruction, OrderStatus
from ..request import Side
from .chain import Instrument

#: A side as the books count it: +1 buys (takes the asks), -1 sells (takes the bids).
BUY, SELL = 1, -1


class KiteStatus(StrEnum):
    """Kite's order statuses the paper exchange goes through."""

    PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
    OPEN_PENDING = "OPEN PENDING"
    OPEN = "OPEN"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def folded(self) -> OrderStatus:
        if self in (KiteStatus.PUT_ORDER_REQ_RECEIVED, KiteStatus.OPEN_PENDING):
            return OrderStatus.PENDING
        return OrderStatus(self.value)

    @property
    def is_terminal(self) -> bool:
        return self.folded.is_terminal


@dataclass(eq=False)
class SimOrder:
    """One order at the paper exchange, from request to terminal state."""

    order_id: str
    order: OrderInstruction
    inst: Instrument
    seq: int
    placed_epoch: float
    visible_epoch: float  # first shown by orders() (later for a "timed out" request)
    arrive_epoch: float  # reaches the matching engine
    status: KiteStatus = KiteStatus.PUT_ORDER_REQ_RECEIVED
    limit_t: int = 0  # working price in ticks once at the exchange
    filled: int = 0
    value: float = 0.0
    queue_ahead: int = 0
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_epoch: float | None = None
    #: (message, raw) of an asynchronous RMS rejection, applied when the order arrives.
    rejection: tuple[str, str] | None = None
    cancel_epoch: float | None = None
    #: The snapshot once terminal: a terminal order no longer changes, and the order book
    #: (every order of the day, read at every poll) would otherwise rebuild it at each read.
    _final: BrokerOrder | None = field(default=None, repr=False)

    @property
    def side(self) -> int:
        return BUY if self.order.side is Side.BUY else SELL

    @property
    def remaining(self) -> int:
        return self.order.quantity - self.filled

    @property
    def average_price(self) -> float:
        return self.value / self.filled if self.filled else 0.0

    def snapshot(self) -> BrokerOrder:
        if self._final is not None:
            return self._final
        status = self.status.folded
        snap = BrokerOrder(
            order_id=self.order_id, tag=self.order.tag or None,
            tradingsymbol=self.inst.tradingsymbol, exchange=self.inst.exchange,
            side=self.order.side, quantity=self.order.quantity, filled_quantity=self.filled,
            average_price=round(self.average_price, 6), status=status,
            status_message=self.status_message,
            pending_quantity=0 if status.is_terminal else self.remaining,
            exchange_timestamp=self.exchange_epoch,
        )
        if status.is_terminal:
            self._final = snap
        return snap
