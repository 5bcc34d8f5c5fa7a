"""Order entry as a trader types it, in the assembled desk window with its real dialogs: what
is sent is what the boxes show, a large order is confirmed (Enter sends, Esc declines), a size
limit is only passed by that confirmation, and Ctrl+Shift+K then Enter kills."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.stack import ExecutionStack
from imperium_exec.widgets.desk.order_confirm import OrderConfirmDialog
from imperium_exec.widgets.desk.window import DeskWindow

LOT = 65


@dataclass
class Desk:
    window: DeskWindow
    stack: ExecutionStack
    broker: PaperBroker
    accepted: list[dict[str, Any]]
    dialogs: list[str]  # the text of every dialog answered, in order
    clock: VirtualClock

    def advanced(self, done: Callable[[], bool]) -> Callable[[], bool]:
        """``done``, asked after moving virtual time a quarter second (cancels and fills
        need the exchange's time to pass)."""
        def check() -> bool:
            self.clock.advance(0.25)
            return done()
        return check


@pytest.fixture
def desk(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[Desk]:
    clock = VirtualClock(auto_advance=False)
    broker = PaperBroker(clock=clock, seed=11)
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=tmp_path,
                           config=EngineConfig(id_seed=5, markout_horizons_s=()))
    window = DeskWindow(stack, settings=qsettings, poll_ms=100, dock_interval_ms=20)
    qtbot.addWidget(window)
    window.resize(1700, 1000)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=5000)
    accepted: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    yield Desk(window, stack, broker, accepted, [], clock)
    window.close()
    clock.run_freely()
    stack.shutdown()


def answer_next_dialog(qtbot: QtBot, desk: Desk, key: Qt.Key) -> None:
    """When the next modal dialog shows, note its text and press ``key`` in it."""
    def press() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, press)
            return
        if isinstance(dialog, QMessageBox):
            desk.dialogs.append(dialog.text())
        elif isinstance(dialog, OrderConfirmDialog):
            desk.dialogs.append(dialog.text.text())
        qtbot.keyClick(dialog, key)
    QTimer.singleShot(0, press)


def enter_lots_and_press(qtbot: QtBot, desk: Desk, text: str, key: Qt.Key) -> None:
    desk.window.activateWindow()  # (back from a dialog: keys go to the active window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is desk.window, timeout=3000)
    lots = desk.window.quick.lots.lineEdit()
    lots.setFocus()
    qtbot.keyClick(lots, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(lots, text)
    qtbot.keyClick(lots, key)


def test_lots_zero_then_f1_sends_nothing_and_says_why(qtbot: QtBot, desk: Desk) -> None:
    enter_lots_and_press(qtbot, desk, "60", Qt.Key.Key_Tab)  # a valid value first
    enter_lots_and_press(qtbot, desk, "0", Qt.Key.Key_F1)
    qtbot.wait(50)
    assert desk.window.quick.lots.lineEdit().text() == "0"
    assert "Lots: 0 is not a number of lots from 1 to 99,999: nothing sent" in \
        desk.window.quick.quote_label.text()
    assert desk.window.statusBar().currentMessage().startswith("Not sent: Lots: 0 ")
    assert desk.accepted == [] and desk.broker.orders() == []


def test_six_hundred_lots_asks_showing_600_esc_sends_nothing_and_enter_sends_it(
        qtbot: QtBot, desk: Desk) -> None:
    answer_next_dialog(qtbot, desk, Qt.Key.Key_Escape)
    enter_lots_and_press(qtbot, desk, "600", Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: len(desk.dialogs) == 1, timeout=3000)
    assert "600 lots (39,000 units)" in desk.dialogs[0]
    assert "lots: 600 lots is over the NIFTY limit of 270 lots for one order" in desk.dialogs[0]
    qtbot.wait(50)
    assert desk.accepted == [] and desk.broker.orders() == []

    answer_next_dialog(qtbot, desk, Qt.Key.Key_Return)
    enter_lots_and_press(qtbot, desk, "600", Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: len(desk.accepted) == 1, timeout=5000)
    assert desk.accepted[0]["quantity"] == 600 * LOT


def test_an_order_above_one_freeze_is_sent_by_its_confirmation_and_a_small_one_at_once(
        qtbot: QtBot, desk: Desk) -> None:
    answer_next_dialog(qtbot, desk, Qt.Key.Key_Return)
    enter_lots_and_press(qtbot, desk, "30", Qt.Key.Key_F1)  # 1,950 units: over the 1,800
    qtbot.waitUntil(lambda: len(desk.accepted) == 1, timeout=5000)
    assert "30 lots (1,950 units)" in desk.dialogs[0]
    assert "Past the stack's size limits" not in desk.dialogs[0]
    enter_lots_and_press(qtbot, desk, "2", Qt.Key.Key_F2)  # below: one keypress sells
    qtbot.waitUntil(lambda: len(desk.accepted) == 2, timeout=5000)
    assert len(desk.dialogs) == 1
    assert [(a["side"], a["quantity"]) for a in desk.accepted] == [("BUY", 30 * LOT),
                                                                   ("SELL", 2 * LOT)]


def test_the_confirmation_shows_the_margin_the_broker_says_the_order_needs(
        qtbot: QtBot, desk: Desk) -> None:
    """Asked in the background (the dialog opens at once) and shown when it comes; Esc then
    still declines."""
    shown: list[str] = []

    def read_margin_then_decline() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, OrderConfirmDialog) or "needs" not in dialog.margin.text():
            QTimer.singleShot(10, read_margin_then_decline)
            return
        shown.append(dialog.margin.text())
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    QTimer.singleShot(0, read_margin_then_decline)
    enter_lots_and_press(qtbot, desk, "30", Qt.Key.Key_F2)  # a sell over one freeze: asked
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    available = desk.broker.margins()["net"]
    assert shown[0].startswith("margin: needs ₹")
    assert shown[0].endswith(f", ₹{available:,.0f} available")  # (five crore: covered)
    qtbot.wait(50)
    assert desk.accepted == [] and desk.broker.orders() == []


def test_ctrl_shift_k_then_enter_cancels_every_working_parent(qtbot: QtBot, desk: Desk) -> None:
    quick = desk.window.quick
    quick.policy_form.algo.setCurrentText("TWAP")
    enter_lots_and_press(qtbot, desk, "2", Qt.Key.Key_F1)
    enter_lots_and_press(qtbot, desk, "3", Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: len(desk.accepted) == 2, timeout=5000)
    finished: list[dict[str, Any]] = []
    desk.stack.parent_finished.connect(finished.append)
    answer_next_dialog(qtbot, desk, Qt.Key.Key_Return)
    desk.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is desk.window, timeout=3000)
    qtbot.keyClick(desk.window, Qt.Key.Key_K,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(desk.advanced(lambda: len(finished) == 2), timeout=10_000)
    assert desk.dialogs and "Cancel" in desk.dialogs[-1]
    assert {row["status"] for row in finished} <= {"cancelled", "partial"}


def test_enter_on_a_positions_row_flattens_that_instrument(qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    enter_lots_and_press(qtbot, desk, "3", Qt.Key.Key_F1)
    view = w.positions_view
    qtbot.waitUntil(lambda: [p.net for p in view.positions] == [3 * LOT], timeout=5000)
    assert view.table.item(0, 1).text() == "+195"
    symbol = view.positions[0].tradingsymbol
    view.parentWidget().parentWidget().setCurrentWidget(view)  # the Positions tab
    view.table.setFocus()
    view.table.setCurrentCell(0, 0)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    qtbot.waitUntil(desk.advanced(lambda: [p.net for p in view.positions] == [0]),
                    timeout=5000)
    assert view.table.item(0, 1).text() == "flat"
    assert [(a["side"], a["quantity"]) for a in desk.accepted] == [("BUY", 195), ("SELL", 195)]
    traded = sum(o.filled_quantity if o.side == "BUY" else -o.filled_quantity
                 for o in desk.broker.orders() if o.tradingsymbol == symbol)
    assert traded == 0


def test_the_chain_follows_the_underlying_and_expiry_chosen_with_the_keyboard(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    chooser = w.chooser
    listed = [chooser.underlying.itemText(i) for i in range(chooser.underlying.count())]
    assert listed == ["NIFTY", "BANKNIFTY", "SENSEX"]  # what the paper exchange lists
    chooser.underlying.setFocus()
    qtbot.keyClick(chooser.underlying, Qt.Key.Key_Down)  # NIFTY -> BANKNIFTY
    qtbot.waitUntil(lambda: w.snapshot is not None
                    and w.snapshot.view.underlying == "BANKNIFTY", timeout=5000)
    assert w.snapshot is not None
    first, later = w.snapshot.view.expiries[:2]
    assert w.snapshot.view.expiry == first
    chooser.expiry.setFocus()
    qtbot.keyClick(chooser.expiry, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: w.snapshot is not None and w.snapshot.view.expiry == later,
                    timeout=5000)
    assert chooser.expiry.currentData() == later
    enter_lots_and_press(qtbot, desk, "1", Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: len(desk.accepted) == 1, timeout=5000)
    symbol = desk.accepted[0]["tradingsymbol"]
    assert symbol.startswith("BANKNIFTY") and symbol in {
        q.tradingsymbol for row in w.snapshot.view.rows for q in (row.call, row.put)}


def test_enter_twice_on_a_position_never_trades_past_flat(qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    enter_lots_and_press(qtbot, desk, "1", Qt.Key.Key_F1)
    view = w.positions_view
    qtbot.waitUntil(desk.advanced(lambda: [p.net for p in view.positions] == [LOT]),
                    timeout=5000)
    symbol = view.positions[0].tradingsymbol
    view.parentWidget().parentWidget().setCurrentWidget(view)
    view.table.setFocus()
    view.table.setCurrentCell(0, 0)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    qtbot.waitUntil(desk.advanced(lambda: not any(
        p.working for p in w.positions.parents.values())), timeout=10_000)
    qtbot.wait(300)
    desk.clock.advance(2.0)
    qtbot.waitUntil(desk.advanced(lambda: not any(
        p.working for p in w.positions.parents.values())), timeout=10_000)
    held = sum(o.filled_quantity if o.side == "BUY" else -o.filled_quantity
               for o in desk.broker.orders() if o.tradingsymbol == symbol)
    assert held == 0 and w.positions.net(symbol) == 0


def test_an_emptied_price_box_sends_nothing(qtbot: QtBot, desk: Desk) -> None:
    price = desk.window.quick.price.lineEdit()
    price.setFocus()
    qtbot.keyClick(price, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(price, Qt.Key.Key_Delete)
    qtbot.keyClick(price, Qt.Key.Key_F1)
    qtbot.wait(50)
    assert "Price: empty is not a price" in desk.window.quick.quote_label.text()
    assert desk.accepted == [] and desk.broker.orders() == []
