"""What this session's orders hold (Qt-free): per parent its side and units filled so far, per
instrument the net quantity and average price, and per basket what each leg holds; and beside
it what the broker's account holds (:class:`PositionRow`).

Fed the stack's typed events, newest last; a parent's filled units are its rows'
``parent_filled_quantity`` (the engine's own count, late fills of ghost orders included), so a
position is exactly what the journal says was traded. Average prices come from the fill rows.

The broker's positions (:class:`BrokerSnapshot`, read now and then) may hold more than this
session traded: a carried NRML position, another app's orders. :meth:`PositionBook.rows` sets
the two side by side per instrument: a row says when they disagree (a figure the broker gave
before this session's latest fill in the instrument is not compared: it is behind), and lists
what the broker holds of an instrument this session never traded. An exit of such a holding is
recorded (:meth:`PositionBook.adopt`): from then on the session owns it, and what it holds is its
own fills plus that holding, so a second Exit finds it flat rather than trading it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..brokers.base import BrokerPosition
from ..events import Event, EventKind
from ..request import Side


@dataclass
class ParentFills:
    parent_id: str
    tradingsymbol: str
    exchange: str
    side: Side
    basket_id: str | None
    filled: int = 0  # units
    filled_value: float = 0.0  # rupees, from the fill rows
    working: bool = True

    @property
    def signed(self) -> int:
        """Units held: + bought, - sold."""
        return self.filled if self.side is Side.BUY else -self.filled


@dataclass(frozen=True, slots=True)
class Position:
    tradingsymbol: str
    exchange: str
    net: int  # units: + long, - short
    bought: int
    sold: int
    average_buy: float | None
    average_sell: float | None


class PositionBook:
    """This session's fills by parent, instrument and basket."""

    def __init__(self) -> None:
        self.parents: dict[str, ParentFills] = {}
        #: Units of a holding from outside this session (the broker's) that this desk's exits
        #: took over, by symbol: what the session holds there is its fills plus these.
        self.outside: dict[str, int] = {}
        #: Fills seen so far (a change of a parent's filled units counts one).
        self.fills = 0
        self._filled_at: dict[str, int] = {}  # symbol -> ``fills`` at its latest fill

    def add(self, event: Event) -> None:
        if event.parent_id is None or event.side is None or not event.tradingsymbol:
            return
        parent = self.parents.get(event.parent_id)
        if parent is None:
            parent = self.parents[event.parent_id] = ParentFills(
                event.parent_id, event.tradingsymbol, event.exchange or "", Side(event.side),
                event.basket_id)
        if event.parent_filled_quantity is not None \
                and event.parent_filled_quantity > parent.filled:
            parent.filled = event.parent_filled_quantity
            self.fills += 1
            self._filled_at[parent.tradingsymbol] = self.fills
        if event.event in (EventKind.FILLED, EventKind.GHOST) \
                and event.filled_quantity and event.fill_price is not None:
            parent.filled_value += event.filled_quantity * event.fill_price
        if event.event is EventKind.FINISHED:
            parent.working = False

    def add_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def net(self, tradingsymbol: str, parents: Iterable[ParentFills] | None = None) -> int:
        """Units held in ``tradingsymbol`` (+ long, - short), over ``parents`` (all)."""
        chosen = self.parents.values() if parents is None else parents
        return sum(p.signed for p in chosen if p.tradingsymbol == tradingsymbol)

    def held(self, tradingsymbol: str) -> int:
        """What this session holds in ``tradingsymbol``: its fills and the holding from
        outside it that its exits took over (what an exit of the instrument trades back)."""
        return self.net(tradingsymbol) + self.outside.get(tradingsymbol, 0)

    def adopt(self, tradingsymbol: str, units: int) -> None:
        """An exit was sent for ``units`` (+ long) the broker held from outside this session:
        the exit's fills count against them from now on."""
        self.outside[tradingsymbol] = self.outside.get(tradingsymbol, 0) + units

    def filled_after(self, tradingsymbol: str, fills: int) -> bool:
        """Whether ``tradingsymbol`` filled after the book had seen ``fills`` fills."""
        return self._filled_at.get(tradingsymbol, 0) > fills

    def traded(self, tradingsymbol: str) -> bool:
        """Whether this session traded ``tradingsymbol`` or took a holding of it over."""
        return tradingsymbol in self.outside or any(
            p.tradingsymbol == tradingsymbol for p in self.parents.values())

    def rows(self, broker: BrokerSnapshot | None) -> list[PositionRow]:
        """Per instrument, by symbol: this session's position (every instrument it traded)
        beside the broker's (when read), then what the broker holds of the others."""
        own = {p.tradingsymbol: p for p in self.positions()}
        theirs: dict[str, list[BrokerPosition]] = {}
        for held in broker.positions if broker is not None else ():
            theirs.setdefault(held.tradingsymbol, []).append(held)
        symbols = set(own) | set(self.outside) | {
            symbol for symbol, held in theirs.items() if any(p.quantity for p in held)}
        out = []
        for symbol in sorted(symbols):
            mine = own.get(symbol)
            listed = tuple(theirs.get(symbol, ()))
            exchange = mine.exchange if mine is not None else \
                listed[0].exchange if listed else ""
            out.append(PositionRow(
                tradingsymbol=symbol, exchange=exchange, own=mine, broker=listed,
                broker_known=broker is not None, outside=self.outside.get(symbol, 0),
                traded=mine is not None or symbol in self.outside,
                broker_behind=broker is not None and self.filled_after(symbol,
                                                                       broker.asked_after)))
        return out

    def of_baskets(self, basket_ids: Iterable[str]) -> list[ParentFills]:
        wanted = set(basket_ids)
        return [p for p in self.parents.values() if p.basket_id in wanted]

    def working(self, parents: Iterable[ParentFills]) -> bool:
        return any(p.working for p in parents)

    def positions(self) -> list[Position]:
        """Every instrument traded this session, by symbol (flat ones included: net 0)."""
        by_symbol: dict[str, list[ParentFills]] = {}
        for parent in self.parents.values():
            by_symbol.setdefault(parent.tradingsymbol, []).append(parent)
        out: list[Position] = []
        for symbol, mine in sorted(by_symbol.items()):
            buys = [p for p in mine if p.side is Side.BUY]
            sells = [p for p in mine if p.side is Side.SELL]
            bought, sold = sum(p.filled for p in buys), sum(p.filled for p in sells)
            out.append(Position(symbol, mine[0].exchange, bought - sold, bought, sold,
                                _average(buys), _average(sells)))
        return out


def _average(parents: list[ParentFills]) -> float | None:
    units = sum(p.filled for p in parents)
    value = sum(p.filled_value for p in parents)
    return value / units if units and value else None


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """The broker's positions as read once."""

    positions: tuple[BrokerPosition, ...]
    #: The book's :attr:`PositionBook.fills` when the read was asked: an instrument that
    #: filled after it may not show in these figures yet.
    asked_after: int
    taken_at: float  # epoch seconds the answer came


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One instrument: this session's position beside the broker's."""

    tradingsymbol: str
    exchange: str
    own: Position | None  # this session's fills; None: never traded here
    broker: tuple[BrokerPosition, ...]  # the broker's, per product (none: not held there)
    broker_known: bool  # the broker's positions were read (else its figures are unknown)
    outside: int = 0  # units held from outside the session that its exits took over
    #: This session traded the instrument (or took a holding of it over).
    traded: bool = True
    #: The session filled in the instrument after the broker's figures were asked.
    broker_behind: bool = False

    @property
    def net(self) -> int:
        """This session's net units (+ long, - short)."""
        return self.own.net if self.own is not None else 0

    @property
    def held(self) -> int:
        """What this session holds: its fills and the holding its exits took over."""
        return self.net + self.outside

    @property
    def broker_net(self) -> int | None:
        """The broker's net units over its products; None when not read."""
        return sum(p.quantity for p in self.broker) if self.broker_known else None

    @property
    def broker_average(self) -> float | None:
        """The average price of the broker's holding: of its one product held, or of several
        held the same way; None when flat, unknown or long in one product and short in
        another."""
        held = [p for p in self.broker if p.quantity]
        if not held or len({p.quantity > 0 for p in held}) > 1:
            return None
        units = sum(abs(p.quantity) for p in held)
        return sum(abs(p.quantity) * p.average_price for p in held) / units

    @property
    def mismatch(self) -> bool:
        """The broker's figures (read after this session's latest fill here) do not show
        what this session holds of an instrument it traded: something outside it holds or
        trades the instrument too. (A row of an instrument it never traded is the broker's
        alone: not a mismatch.)"""
        return self.traded and self.broker_known and not self.broker_behind \
            and self.broker_net != self.held

    @property
    def exit_units(self) -> int:
        """What Exit trades back: what this session holds, or for an instrument it never
        traded, what the broker holds."""
        if self.traded:
            return self.held
        return self.broker_net or 0

    def broker_note(self) -> str:
        """The broker's figures per product, and what a mismatch means (a tooltip)."""
        if not self.broker_known:
            return "The broker's positions have not been read yet."
        lines = [f"{p.product} {p.quantity:+,}" + (f" @ {p.average_price:,.2f}"
                                                     if p.quantity else " (closed)")
                 + (f" · LTP {p.last_price:,.2f}" if p.last_price is not None else "")
                 + (f" · P&L {p.pnl:+,.2f}" if p.pnl is not None else "")
                 for p in self.broker] or ["The broker holds nothing of this instrument."]
        lines.insert(0, f"The broker's account, {self.exchange}:{self.tradingsymbol}:")
        if self.broker_behind:
            lines.append("This session filled here after these figures were asked: "
                         "reading them again.")
        elif self.mismatch:
            broker = self.broker_net or 0
            lines.append(
                f"≠ The broker holds {broker:+,} where this session holds {self.held:+,}: "
                f"{broker - self.held:+,} come from before this session or another app."
                + (f" Exit trades this session's {self.held:+,} back only." if self.held
                   else ""))
        if not self.traded:
            lines.append("Not traded in this session: Exit trades the broker's "
                         f"{self.exit_units:+,} back to flat, in each product.")
        elif self.outside:
            lines.append(f"This session's exits took over {self.outside:+,} held before it.")
        return "\n".join(lines)
