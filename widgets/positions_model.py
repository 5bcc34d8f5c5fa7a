"""What this session's orders hold (Qt-free): per parent its side and units filled so far, per
instrument the net quantity and average price, and per basket what each leg holds.

Fed the stack's typed events, newest last; a parent's filled units are its rows'
``parent_filled_quantity`` (the engine's own count, late fills of ghost orders included), so a
position is exactly what the journal says was traded. Average prices come from the fill rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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

    def add(self, event: Event) -> None:
        if event.parent_id is None or event.side is None or not event.tradingsymbol:
            return
        parent = self.parents.get(event.parent_id)
        if parent is None:
            parent = self.parents[event.parent_id] = ParentFills(
                event.parent_id, event.tradingsymbol, event.exchange or "", Side(event.side),
                event.basket_id)
        if event.parent_filled_quantity is not None:
            parent.filled = max(parent.filled, event.parent_filled_quantity)
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
