"""The Positions tab beside the broker's account, in the assembled desk window on the paper
exchange: a position the broker held before the session opened is listed and its Exit trades it
back to flat, once; one the session adds to shows the broker's larger figure marked as a
mismatch; the broker is read off the GUI thread, only while the tab is shown, and never more
than once per gap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QPushButton, QTabWidget
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.request import OrderType, Side
from imperium_exec.stack import ExecutionStack
from imperium_exec.widgets.desk.window import DeskWindow
from imperium_exec.widgets.positions_model import PositionRow
from imperium_exec.widgets.positions_view import BROKER_NET_COLUMN, PositionsView

LOT = 65


@dataclass
class Desk:
    window: DeskWindow
    stack: ExecutionStack
    broker: PaperBroker
    clock: VirtualClock
    earlier: str  # the symbol the broker held before the session
    strike: float
    accepted: list[dict[str, Any]]

    @property
    def view(self) -> PositionsView:
        return self.window.positions_view

    def advanced(self, done: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            self.clock.advance(0.25)
            return done()
        return check

    def row(self, symbol: str) -> PositionRow | None:
        return next((r for r in self.view.positions if r.tradingsymbol == symbol), None)

    def broker_net(self, symbol: str) -> int:
        return sum(p.quantity for p in self.broker.positions() if p.tradingsymbol == symbol)

    def show_positions(self) -> None:
        tabs = self.view.parentWidget().parentWidget()
        assert isinstance(tabs, QTabWidget)
        tabs.setCurrentWidget(self.view)


@pytest.fixture
def desk(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[Desk]:
    clock = VirtualClock(auto_advance=False)
    broker = PaperBroker(clock=clock, seed=11)
    chain = broker.option_chain("NIFTY", strikes_each_side=8)
    earlier = next(r.call for r in chain.rows if r.strike == chain.atm_strike).tradingsymbol
    # Held before this session: an earlier run of the desk (or another app) bought 2 lots.
    broker.place_order(OrderInstruction(earlier, "NFO", Side.BUY, 2 * LOT, OrderType.MARKET,
                                        None, "NRML", "DAY", "EARLIER1",
                                        market_protection=-1))
    clock.advance(1.0)
    assert sum(p.quantity for p in broker.positions()) == 2 * LOT
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=tmp_path,
                           config=EngineConfig(id_seed=7, markout_horizons_s=()))
    window = DeskWindow(stack, settings=qsettings, poll_ms=100, dock_interval_ms=20)
    window.positions_view.min_gap_s = 0.3  # (the desk's default is 2 s)
    qtbot.addWidget(window)
    window.resize(1700, 1000)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=5000)
    accepted: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    yield Desk(window, stack, broker, clock, earlier, chain.atm_strike, accepted)
    window.close()
    clock.run_freely()
    stack.shutdown()


def test_a_position_held_before_the_session_is_listed_and_its_exit_flattens_it_once(
        qtbot: QtBot, desk: Desk) -> None:
    view = desk.view
    assert view.broker_reads == 0  # the tab is not shown: the broker is not asked
    desk.show_positions()
    qtbot.waitUntil(lambda: desk.row(desk.earlier) is not None, timeout=5000)
    row = desk.row(desk.earlier)
    assert row is not None and (row.traded, row.net, row.broker_net) == (False, 0, 2 * LOT)
    index = view.positions.index(row)
    assert view.table.item(index, 1).text() == "–"  # never traded in this session
    assert view.table.item(index, BROKER_NET_COLUMN).text() == "+130"
    assert "Not traded in this session" in view.table.item(index, 0).toolTip()
    button = view.table.cellWidget(index, view.table.columnCount() - 1)
    assert isinstance(button, QPushButton) and button.isEnabled()

    view.table.setFocus()
    view.table.setCurrentCell(index, 0)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)  # Exit
    qtbot.keyClick(view.table, Qt.Key.Key_Return)  # and again, before anything came back
    qtbot.waitUntil(desk.advanced(lambda: desk.broker_net(desk.earlier) == 0
                                  and not any(p.working for p in
                                              desk.window.positions.parents.values())),
                    timeout=10_000)
    qtbot.wait(300)
    desk.clock.advance(2.0)
    qtbot.waitUntil(desk.advanced(lambda: not any(
        p.working for p in desk.window.positions.parents.values())), timeout=10_000)
    # The second Enter cancels the first exit if it still works and sends what is left
    # (as a session's exit does), or finds the holding flat: 130 sold in all, never more.
    assert {(a["tradingsymbol"], a["side"]) for a in desk.accepted} == {(desk.earlier, "SELL")}
    assert desk.window.positions.net(desk.earlier) == -2 * LOT
    assert desk.broker_net(desk.earlier) == 0
    assert sum(o.filled_quantity for o in desk.broker.orders() if o.side is Side.SELL) == \
        2 * LOT
    qtbot.waitUntil(lambda: (r := desk.row(desk.earlier)) is not None
                    and r.broker_net == 0 and not r.broker_behind, timeout=5000)
    row = desk.row(desk.earlier)
    assert row is not None
    assert (row.traded, row.net, row.held, row.exit_units, row.mismatch) == \
        (True, -2 * LOT, 0, 0, False)
    index = view.positions.index(row)
    assert view.table.item(index, BROKER_NET_COLUMN).text() == "flat"
    assert not view.table.cellWidget(index, view.table.columnCount() - 1).isEnabled()


def test_the_broker_holding_more_than_the_session_bought_is_marked_and_exit_sells_the_sessions(
        qtbot: QtBot, desk: Desk) -> None:
    w, view = desk.window, desk.view
    w.quick.select(desk.strike, "CE")
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
    lots = w.quick.lots.lineEdit()
    lots.setFocus()
    qtbot.keyClick(lots, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(lots, "1")
    qtbot.keyClick(lots, Qt.Key.Key_F1)
    qtbot.waitUntil(desk.advanced(lambda: w.positions.net(desk.earlier) == LOT
                                  and not any(p.working for p in w.positions.parents.values())),
                    timeout=10_000)
    desk.show_positions()
    qtbot.waitUntil(lambda: (r := desk.row(desk.earlier)) is not None and r.broker_known
                    and not r.broker_behind, timeout=5000)
    row = desk.row(desk.earlier)
    assert row is not None and (row.net, row.broker_net, row.mismatch) == (LOT, 3 * LOT, True)
    index = view.positions.index(row)
    cell = view.table.item(index, BROKER_NET_COLUMN)
    assert cell.text() == "≠ +195"
    assert "+130 come from before this session or another app" in cell.toolTip()
    assert "disagree" in view.summary.text()

    view.table.setFocus()
    view.table.setCurrentCell(index, 0)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)  # trades this session's lot back only
    qtbot.waitUntil(desk.advanced(lambda: w.positions.net(desk.earlier) == 0
                                  and not any(p.working for p in w.positions.parents.values())),
                    timeout=10_000)
    assert [(a["side"], a["quantity"]) for a in desk.accepted] == [("BUY", LOT), ("SELL", LOT)]
    assert desk.broker_net(desk.earlier) == 2 * LOT


@pytest.mark.slow(seconds=2)
def test_the_broker_is_read_only_while_the_tab_shows_and_never_faster_than_the_gap(
        qtbot: QtBot, desk: Desk) -> None:
    view = desk.view
    view.min_gap_s = 1.0
    desk.show_positions()
    qtbot.waitUntil(lambda: view.broker is not None, timeout=5000)
    assert view.broker_reads == 1
    for _ in range(5):  # asked again at once: waits for the gap, one read in all
        view.read_broker_positions()
    qtbot.wait(300)
    assert view.broker_reads == 1
    qtbot.waitUntil(lambda: view.broker_reads == 2, timeout=3000)
    tabs = view.parentWidget().parentWidget()
    assert isinstance(tabs, QTabWidget)
    tabs.setCurrentIndex(0)  # the Confirmations tab: no more reads
    reads = view.broker_reads
    qtbot.wait(1500)
    assert view.broker_reads == reads
