"""The desk after a restart, end to end on the paper exchange: real orphans, found by a second
stack on the same exchange, listed in the dock; Adopt on a row sends the rest, Cancel all leaves
nothing open, and nothing is sent before the trader chooses.

The first stack's journal is copied while its children rest (what a crash would leave), then the
first stack is shut down (its children are cancelled). While "the desk is down", an order with
the first parent's tag is placed straight on the exchange (a retry whose row never got written:
it rests) and one with the second's fills at the market (a fill made while the desk was down).
The copy's accepted row of the second parent loses its request (a journal from before schema 5):
that orphan cannot be adopted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.base import BrokerOrder, OrderInstruction
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.engine.config import EngineConfig
from imperium_exec.request import ExecutionRequest, OrderType, Side
from imperium_exec.stack import ExecutionStack
from imperium_exec.telemetry import read_rows, telemetry_path
from imperium_exec.widgets.desk.window import DeskWindow
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.theme import dark_palette

#: The paper exchange limits no reads: a cancel is confirmed by the next book read, soon, not
#: 0.2 s after the last one (Kite's pace, the default).
PAPER_READS = EngineConfig(min_read_gap_s=0.02)


@dataclass
class Restart:
    broker: PaperBroker
    stack: ExecutionStack  # the second one, on the journal the crash left
    window: DeskWindow
    adoptable: str  # a BUY TWAP of 4 lots, one order of 1 lot open
    old_schema: str  # a SELL TWAP of 2 lots, 1 lot filled while down, not adoptable
    asked: list[str]

    def orders(self, prefix: str) -> list[BrokerOrder]:
        return [o for o in self.broker.orders() if (o.tag or "").startswith(prefix)]

    def rows(self) -> list[dict[str, Any]]:
        return read_rows(self.stack.tracker.path)


def passive(symbol: str, side: str, lots: int, lot: int, price: float) -> ExecutionRequest:
    return ExecutionRequest.model_validate(dict(
        tradingsymbol=symbol, exchange="NFO", side=side, quantity=lots * lot,
        order_type="LIMIT", limit_price=price, execution_algo="TWAP", max_child_orders=2,
        horizon_s=600, randomize_slices=False))


def direct(symbol: str, side: Side, lot: int, tag: str, price: float | None) -> OrderInstruction:
    return OrderInstruction(symbol, "NFO", side, lot,
                            OrderType.LIMIT if price is not None else OrderType.MARKET, price,
                            "NRML", "DAY", tag, market_protection=None if price else -1)


@pytest.fixture
def restart(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[Restart]:
    broker = PaperBroker(seed=11)
    chain = broker.option_chain("NIFTY")
    symbol, lot = chain.rows[len(chain.rows) // 2].call.tradingsymbol, chain.lot_size
    quote = broker.quote(symbol)
    assert quote is not None and quote.bid and quote.ask
    below, above = round(quote.bid * 0.6, 1), round(quote.ask * 1.5, 1)
    first = ExecutionStack(broker, "paper", telemetry_dir=tmp_path / "first",
                           config=PAPER_READS)
    try:
        first.recovery().result(10)
        adoptable = first.execute(passive(symbol, "BUY", 4, lot, below)).parent_id
        old_schema = first.execute(passive(symbol, "SELL", 2, lot, above)).parent_id
        qtbot.waitUntil(lambda: sum(r["event"] == "placed"
                                    for r in read_rows(first.tracker.path)) == 2, timeout=10_000)
        journal = telemetry_path("paper", tmp_path / "second")
        journal.parent.mkdir()
        with open(journal, "wb") as f:  # the journal as the crash left it
            for r in read_rows(first.tracker.path):
                if r["event"] == "accepted" and r["parent_id"] == old_schema:
                    r = r | {"request": None}
                f.write(orjson.dumps(r) + b"\n")
    finally:
        first.shutdown()
    broker.place_order(direct(symbol, Side.BUY, lot, adoptable + "00102", below))
    broker.place_order(direct(symbol, Side.SELL, lot, old_schema + "00102", None))
    stack = ExecutionStack(broker, "paper", telemetry_dir=tmp_path / "second",
                           config=PAPER_READS)
    asked: list[str] = []

    def confirm_adopt(_parent: QWidget, text: str) -> bool:
        asked.append(text)
        return True

    window = DeskWindow(stack, settings=qsettings, poll_ms=200, dock_interval_ms=20)
    window.dock.orphans_panel.confirm_adopt = confirm_adopt
    qtbot.addWidget(window)
    window.resize(1700, 1000)
    window.show()
    qtbot.waitExposed(window)
    try:
        yield Restart(broker, stack, window, adoptable, old_schema, asked)
    finally:
        window.close()
        stack.shutdown()


def test_the_desk_lists_the_orphans_and_sends_nothing_before_the_trader_chooses(
        qtbot: QtBot, restart: Restart, screenshot_dir: Path) -> None:
    panel = restart.window.dock.orphans_panel
    qtbot.waitUntil(lambda: len(panel.rows) == 2, timeout=10_000)
    a, s = panel.rows[restart.adoptable], panel.rows[restart.old_schema]
    assert panel.header.text() == restart.stack.recovery().result(0).summary()
    # the lot size comes with the journal's accepted row (its history loads in the background)
    qtbot.waitUntil(lambda: a.title.text().startswith("BUY 4 lots (260) "), timeout=5000)
    assert s.detail.text() == f"{restart.old_schema} · filled 65 of 130 · 65 while the desk " \
                              "was down"
    (open_order,) = restart.orders(restart.adoptable + "00102")
    assert a.orders.text() == (f"open at the broker: {open_order.order_id} "
                               f"({open_order.quantity} pending)")
    assert a.adopt_button.isEnabled()
    assert not s.adopt_button.isEnabled()
    assert "its request is not in the journal" in s.adopt_button.toolTip()
    # Held: the parents panel does not list them as working, nor as interrupted
    dock = restart.window.dock
    dock.refresh_now()
    assert dock.parents_panel.rows == {} and not dock.parents_panel.interrupted_label.isVisible()
    qtbot.wait(300)
    assert restart.orders(restart.adoptable)[-1].status == "OPEN"  # nothing was cancelled
    assert len(restart.broker.orders()) == 4  # nor sent
    picture = screenshot_dir / "desk_orphans.png"
    restart.window.grab().save(str(picture))
    panel.grab().save(str(screenshot_dir / "dock_orphans_panel.png"))
    assert picture.stat().st_size > 20_000


def test_adopt_on_a_row_sends_the_rest_as_a_new_parent_and_cancel_ends_the_other(
        qtbot: QtBot, restart: Restart) -> None:
    panel = restart.window.dock.orphans_panel
    qtbot.waitUntil(lambda: restart.adoptable in panel.rows, timeout=10_000)
    row = panel.rows[restart.adoptable]
    qtbot.mouseClick(row.adopt_button, Qt.MouseButton.LeftButton)
    assert len(restart.asked) == 1 and restart.asked[0].startswith(
        f"Adopt {restart.adoptable}: cancel its 1 open order, then send the remaining 260 units")
    new_id = row.state.text().removeprefix("adopting as ").removesuffix("…")
    assert len(new_id) == 10 and new_id != restart.adoptable
    qtbot.waitUntil(lambda: restart.adoptable not in panel.rows, timeout=10_000)
    assert any(o.startswith(f"{restart.adoptable} adopted as {new_id}")
               for o in restart.window.dock.orphan_book.outcomes)
    assert f"{restart.adoptable} adopted as {new_id}" in panel.outcomes.text()
    # the old order was cancelled before the new parent sent the rest
    (old_order,) = restart.orders(restart.adoptable + "00102")
    assert old_order.status == "CANCELLED"
    qtbot.waitUntil(lambda: bool(restart.orders(new_id)), timeout=10_000)
    finished = [r for r in restart.rows() if r["event"] == "finished"
                and r["parent_id"] == restart.adoptable]
    assert len(finished) == 1 and f"adopted as {new_id}" in finished[0]["message"]
    accepted = next(r for r in restart.rows() if r["event"] == "accepted"
                    and r["parent_id"] == new_id)
    assert accepted["parent_quantity"] == 260
    # the new parent is a working parent of this session; the other orphan is still held
    qtbot.waitUntil(lambda: new_id in restart.window.dock.parents_panel.rows, timeout=5000)
    assert list(panel.rows) == [restart.old_schema]
    # Delete on the other one's row cancels it: its finished row, and its row goes
    other = panel.rows[restart.old_schema]
    other.setFocus()
    qtbot.waitUntil(other.hasFocus, timeout=2000)
    qtbot.keyClick(other, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not panel.rows, timeout=10_000)
    ended = [r for r in restart.rows() if r["event"] == "finished"
             and r["parent_id"] == restart.old_schema]
    assert len(ended) == 1 and ended[0]["filled_quantity"] == 65
    assert panel.dismiss_button.isVisible()


def test_cancel_all_leaves_nothing_open_and_the_rows_go_with_their_finished_rows(
        qtbot: QtBot, restart: Restart) -> None:
    panel = restart.window.dock.orphans_panel
    qtbot.waitUntil(lambda: len(panel.rows) == 2, timeout=10_000)
    qtbot.mouseClick(panel.cancel_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.rows, timeout=10_000)
    qtbot.waitUntil(panel.dismiss_button.isVisible, timeout=10_000)
    assert all(o.status != "OPEN" for o in restart.broker.orders())
    assert len(restart.broker.orders()) == 4  # nothing new was sent
    assert "Cancel all: 2 held parents ended" in panel.outcomes.text()
    finished = {r["parent_id"]: r for r in restart.rows() if r["event"] == "finished"}
    assert set(finished) == {restart.adoptable, restart.old_schema}
    assert finished[restart.old_schema]["filled_quantity"] == 65


def test_a_paper_desk_has_no_log_in_again(restart: Restart) -> None:
    window = restart.window
    assert window.login is None
    assert not window.dock.session_button.isVisible()
    names = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert not any("Log in again" in name for name in names)


def test_the_orphans_panel_reads_on_the_desks_dark_palette(
        qtbot: QtBot, restart: Restart, screenshot_dir: Path) -> None:
    """The demo's look (dark palette, the desk's font): a picture to look at."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, font = app.palette(), app.font()
    app.setPalette(dark_palette())
    app.setFont(desk_font(9))
    try:
        panel = restart.window.dock.orphans_panel
        qtbot.waitUntil(lambda: len(panel.rows) == 2, timeout=10_000)
        qtbot.wait(100)
        picture = screenshot_dir / "desk_orphans_dark.png"
        assert restart.window.grab().save(str(picture))
        assert panel.rows[restart.old_schema].state.isVisible()
    finally:
        app.setPalette(palette)
        app.setFont(font)
