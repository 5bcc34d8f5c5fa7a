"""What this session holds, from the stack's rows (widgets/positions_model.py, Qt-free)."""

from __future__ import annotations

from imperium_exec.events import Event, EventKind, Status
from imperium_exec.request import Side
from imperium_exec.widgets.positions_model import PositionBook

HEDGE, SHORT, OTHER = "NIFTY26D0826200CE", "NIFTY26D0826100CE", "NIFTY26D0826000PE"


def row(parent: str, symbol: str, side: Side, event: EventKind, filled: int, *,
        basket: str | None = "B1", fill: int | None = None, price: float | None = None) -> Event:
    return Event(event=event, parent_id=parent, tradingsymbol=symbol, exchange="NFO", side=side,
                 basket_id=basket, parent_filled_quantity=filled, filled_quantity=fill,
                 fill_price=price, status=Status.WORKING)


def test_a_part_filled_leg_holds_its_fills_and_an_unfilled_one_holds_nothing() -> None:
    book = PositionBook()
    book.add_all([
        row("P1", HEDGE, Side.BUY, EventKind.ACCEPTED, 0),
        row("P2", SHORT, Side.SELL, EventKind.ACCEPTED, 0),
        row("P1", HEDGE, Side.BUY, EventKind.FILLED, 65, fill=65, price=20.0),
        row("P1", HEDGE, Side.BUY, EventKind.FINISHED, 65),
        row("P2", SHORT, Side.SELL, EventKind.FINISHED, 0),
        row("Q1", OTHER, Side.SELL, EventKind.FILLED, 130, basket=None, fill=130, price=9.5),
    ])
    held = book.of_baskets(["B1"])
    assert (book.net(HEDGE, held), book.net(SHORT, held)) == (65, 0)
    assert not book.working(held)
    assert book.net(OTHER) == -130 and book.net(OTHER, held) == 0  # not the basket's
    (other, hedge) = [p for p in book.positions() if p.tradingsymbol in (OTHER, HEDGE)]
    assert (hedge.net, hedge.average_buy) == (65, 20.0)
    assert (other.net, other.average_sell, other.average_buy) == (-130, 9.5, None)


def test_a_parent_is_working_until_its_finished_row() -> None:
    book = PositionBook()
    book.add(row("P1", HEDGE, Side.BUY, EventKind.FILLED, 65, fill=65, price=20.0))
    assert book.working(book.of_baskets(["B1"]))
    book.add(row("P1", HEDGE, Side.BUY, EventKind.FINISHED, 65))
    assert not book.working(book.of_baskets(["B1"]))
