"""What a restart (or a new login) found, for the trader to decide on: :class:`RecoveryReport`.

An *orphan* is a parent the journal saw working and never saw finish. The broker's order book,
read once, says which of its orders are still open (matched by the desk's tags: the parent id
starts every tag) and what filled while the desk was down (written to the journal once, as the
orders' fill rows). An open order carrying a tag of the desk's shape whose parent the journal
does not know (the journal was moved or lost) is listed too, as an unknown order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..brokers.base import BrokerOrder
from ..request import Side


@dataclass(frozen=True, slots=True)
class OrphanOrder:
    """An order of an orphan (or an unknown desk-tagged order) as the broker's book shows it."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    side: Side
    status: str  # the broker's status, folded (OPEN, PENDING, COMPLETE, ...)
    quantity: int
    filled_quantity: int
    pending_quantity: int

    @classmethod
    def of(cls, order: BrokerOrder) -> OrphanOrder:
        return cls(order.order_id, order.tag, order.tradingsymbol, order.side,
                   str(order.status), order.quantity, order.filled_quantity,
                   order.pending_quantity or max(0, order.quantity - order.filled_quantity))


@dataclass(frozen=True, slots=True)
class Orphan:
    """A parent left working by a crash (or a lost session), as found at the restart."""

    parent_id: str
    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int  # units
    filled: int  # units, with the fills found in the book
    open_orders: tuple[OrphanOrder, ...]
    #: Units that filled while the desk was down: written to the journal by the restart.
    filled_while_down: int
    execution_algo: str | None
    basket_id: str | None
    leg_role: str | None
    #: Why it cannot be adopted (its request is unknown: a journal from before schema 5;
    #: nothing is left), or None.
    not_adoptable: str | None

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def pending(self) -> int:
        """Units its open orders still work."""
        return sum(o.pending_quantity for o in self.open_orders)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """The restart's findings: nothing has been sent on them."""

    orphans: tuple[Orphan, ...]
    #: Open orders with a desk-shaped tag whose parent the journal does not know.
    unknown_orders: tuple[OrphanOrder, ...]
    journal: str | None  # the journal read (None: the stack writes none)
    read_at: float  # when the order book was read, epoch seconds
    #: The journal or the order book could not be read: the report is incomplete.
    error: str | None = None
    bad_lines: int = 0  # journal lines that did not read as rows
    #: Open orders of parents the journal saw finish (a cancel never confirmed, a session
    #: lost before this one): their parents' rows said they may still be live.
    stray_orders: tuple[OrphanOrder, ...] = ()
    #: What it follows: a restart of the stack, or a new login after a lost session.
    after: Literal["restart", "login"] = "restart"

    @property
    def open_orders(self) -> tuple[OrphanOrder, ...]:
        return tuple(o for orphan in self.orphans for o in orphan.open_orders) \
            + self.unknown_orders + self.stray_orders

    @property
    def clean(self) -> bool:
        """Nothing was left working and everything could be read."""
        return not self.orphans and not self.unknown_orders and not self.stray_orders \
            and self.error is None

    def summary(self) -> str:
        """One line for the trader."""
        if self.error is not None:
            return f"Restart check incomplete: {self.error}"
        if self.clean:
            return "Restart check: nothing was left working." if self.after == "restart" \
                else "Logged in again: nothing was halted."
        plural = "s" if len(self.orphans) != 1 else ""
        parts = [f"{len(self.orphans)} parent{plural} halted by the lost session"
                 if self.after == "login"
                 else f"{len(self.orphans)} parent{plural} left working by the last session"]
        orders = len(self.open_orders)
        parts.append(f"{orders} order{'s' if orders != 1 else ''} still open at the broker")
        down = sum(o.filled_while_down for o in self.orphans)
        if down:
            while_ = "the session was down" if self.after == "login" else "the desk was down"
            parts.append(f"{down:,} units filled while {while_} (now journaled)")
        if self.unknown_orders:
            parts.append(f"{len(self.unknown_orders)} open with a desk tag the journal does "
                         "not know")
        if self.stray_orders:
            parts.append(f"{len(self.stray_orders)} open of parents already finished")
        return "; ".join(parts) + ". Nothing is sent until you cancel or adopt them."
