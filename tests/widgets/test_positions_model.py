"""What this session holds, from the stack's rows, and beside it what the broker holds
(widgets/positions_model.py, Qt-free)."""

from __future__ import annotations

import pytest

from imperium_exec.brokers.base import BrokerPosition
from imperium_exec.events import Event, EventKind, Status
from imperium_exec.request import Side
from imperium_exec.widgets.positions_model import BrokerSnapshot, PositionBook

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


# ---------------------------------------------------------------------------- the broker's


def held(symbol: str, units: int, average: float, product: str = "NRML") -> BrokerPosition:
    return BrokerPosition(symbol, "NFO", product, units, average, last_price=average + 1.0,
                          pnl=float(units))


def bought(book: PositionBook, parent: str, symbol: str, units: int, price: float) -> None:
    book.add(row(parent, symbol, Side.BUY, EventKind.FILLED, units, basket=None, fill=units,
                 price=price))
    book.add(row(parent, symbol, Side.BUY, EventKind.FINISHED, units, basket=None))


def test_the_brokers_positions_sit_beside_the_sessions_and_agreeing_ones_are_no_mismatch(
        ) -> None:
    book = PositionBook()
    bought(book, "P1", HEDGE, 65, 20.0)
    assert [(r.tradingsymbol, r.net, r.broker_net) for r in book.rows(None)] == \
        [(HEDGE, 65, None)]  # not read yet: the broker's figures are unknown, not zero
    snapshot = BrokerSnapshot((held(HEDGE, 65, 20.0),), asked_after=book.fills, taken_at=0.0)
    (row_,) = book.rows(snapshot)
    assert (row_.net, row_.broker_net, row_.broker_average, row_.mismatch) == \
        (65, 65, 20.0, False)
    assert (row_.traded, row_.exit_units) == (True, 65)


def test_a_broker_holding_more_than_the_session_traded_is_a_mismatch_the_row_explains(
        ) -> None:
    book = PositionBook()
    bought(book, "P1", HEDGE, 65, 20.0)
    snapshot = BrokerSnapshot((held(HEDGE, 100, 19.0), held(HEDGE, 30, 22.0, "MIS")),
                              asked_after=book.fills, taken_at=0.0)
    (row_,) = book.rows(snapshot)
    assert (row_.broker_net, row_.mismatch, row_.exit_units) == (130, True, 65)
    assert row_.broker_average == pytest.approx((100 * 19.0 + 30 * 22.0) / 130)
    note = row_.broker_note()
    assert "NRML +100 @ 19.00" in note and "MIS +30 @ 22.00" in note
    assert "≠ The broker holds +130 where this session holds +65: +65 come from before" in note
    assert "Exit trades this session's +65 back only" in note


def test_a_figure_asked_before_the_sessions_latest_fill_is_behind_not_a_mismatch() -> None:
    book = PositionBook()
    bought(book, "P1", HEDGE, 65, 20.0)
    asked = book.fills
    bought(book, "P2", HEDGE, 65, 21.0)  # fills after the broker was asked
    snapshot = BrokerSnapshot((held(HEDGE, 65, 20.0),), asked_after=asked, taken_at=0.0)
    (row_,) = book.rows(snapshot)
    assert (row_.net, row_.broker_net, row_.broker_behind, row_.mismatch) == \
        (130, 65, True, False)
    assert "reading them again" in row_.broker_note()
    other = BrokerSnapshot((held(HEDGE, 65, 20.0),), asked_after=book.fills, taken_at=1.0)
    assert book.rows(other)[0].mismatch  # asked after it: now it disagrees


def test_what_the_broker_holds_of_an_instrument_never_traded_is_a_row_exiting_its_holding(
        ) -> None:
    book = PositionBook()
    bought(book, "P1", HEDGE, 65, 20.0)
    snapshot = BrokerSnapshot(
        (held(HEDGE, 65, 20.0), held(OTHER, -130, 9.5), held(SHORT, 0, 0.0)),
        asked_after=book.fills, taken_at=0.0)
    rows = {r.tradingsymbol: r for r in book.rows(snapshot)}
    assert set(rows) == {HEDGE, OTHER}  # a flat holding never traded here is left out
    outside = rows[OTHER]
    assert (outside.own, outside.traded, outside.net, outside.broker_net) == \
        (None, False, 0, -130)
    assert (outside.exit_units, outside.mismatch, outside.exchange) == (-130, False, "NFO")
    assert "Not traded in this session: Exit trades the broker's -130" in \
        outside.broker_note()


def test_a_holding_an_exit_took_over_counts_against_that_exits_fills_never_twice() -> None:
    book = PositionBook()
    book.adopt(OTHER, -130)  # the exit of the broker's -130 was sent
    before = BrokerSnapshot((held(OTHER, -130, 9.5),), asked_after=book.fills, taken_at=0.0)
    (row_,) = book.rows(before)
    assert (row_.traded, row_.held, row_.exit_units, row_.mismatch) == (True, -130, -130, False)
    bought(book, "X1", OTHER, 130, 9.0)  # the exit filled
    assert (book.net(OTHER), book.held(OTHER)) == (130, 0)
    after = BrokerSnapshot((held(OTHER, 0, 0.0),), asked_after=book.fills, taken_at=1.0)
    (row_,) = book.rows(after)
    assert (row_.net, row_.held, row_.broker_net, row_.exit_units, row_.mismatch) == \
        (130, 0, 0, 0, False)
    assert "took over -130 held before it" in row_.broker_note()
