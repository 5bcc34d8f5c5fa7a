"""The desk demo end to end: a real ExecutionStack on the paper exchange in virtual time, driven
through both panels with the mouse and the keyboard, watched through its signals and the dock."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QGroupBox,
    QLabel,
    QMainWindow,
    QWidget,
)
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.stack import BasketHandle, ExecutionStack
from imperium_exec.telemetry import read_rows
from imperium_exec.widgets.desk.basket_confirm import BasketChoice, BasketConfirmDialog
from imperium_exec.widgets.desk.window import DeskWindow
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.theme import dark_palette


@dataclass
class Desk:
    window: DeskWindow
    stack: ExecutionStack
    clock: VirtualClock
    rows: list[dict[str, Any]]
    asked: list[str]
    #: The basket confirmations shown, and the choice each got (send with hedge-first on).
    baskets_asked: list[str]
    basket_choice: list[BasketChoice | None]

    def events(self, parent_id: str) -> list[str]:
        return [r["event"] for r in self.rows if r["parent_id"] == parent_id]

    def dock_rows(self, parent_id: str) -> list[dict[str, Any]]:
        return [r for r in self.window.dock.model.visible_rows() if r["parent_id"] == parent_id]


@pytest.fixture
def desk(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> Iterator[Desk]:
    clock = VirtualClock(auto_advance=False)  # time moves only when a test says so
    broker = PaperBroker(clock=clock, seed=11)
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=tmp_path,
                           config=EngineConfig(id_seed=5))
    asked: list[str] = []

    def confirm(_parent: QWidget, text: str) -> bool:
        asked.append(text)
        return True

    baskets_asked: list[str] = []
    basket_choice: list[BasketChoice | None] = [BasketChoice()]

    def confirm_basket(_parent: QWidget, text: str) -> BasketChoice | None:
        baskets_asked.append(text)
        return basket_choice[0]

    window = DeskWindow(stack, settings=qsettings, poll_ms=100, dock_interval_ms=20,
                        confirm=confirm, confirm_basket=confirm_basket)
    qtbot.addWidget(window)
    window.resize(1700, 1000)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=5000)
    rows: list[dict[str, Any]] = []
    stack.telemetry_row.connect(rows.append)
    yield Desk(window, stack, clock, rows, asked, baskets_asked, basket_choice)
    window.close()
    clock.run_freely()  # cancels at shutdown need time to reach the exchange
    stack.shutdown()


def type_into(qtbot: QtBot, widget: QWidget, text: str) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def click_chain(qtbot: QtBot, window: DeskWindow, strike: float, column: int, *,
                double: bool = False) -> None:
    index = window.chain_model.index(window.chain_model.row_of(strike), column)
    window.chain_view.scrollTo(index)
    centre = window.chain_view.visualRect(index).center()
    viewport = window.chain_view.viewport()
    if double:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
    else:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=centre)


def finished_with(parent_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["parent_id"] == parent_id


def test_quick_order_from_a_chain_click_to_the_dock(qtbot: QtBot, desk: Desk) -> None:
    w, stack = desk.window, desk.stack
    atm = w.snapshot.view.atm_strike  # type: ignore[union-attr]
    click_chain(qtbot, w, atm, 3)  # CE LTP of the ATM strike
    assert (w.quick.strike.strike(), w.quick.option_type()) == (atm, "CE")
    type_into(qtbot, w.quick.lots.lineEdit(), "2")
    with qtbot.waitSignal(stack.parent_accepted, timeout=5000) as signal:
        qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    accepted = signal.args[0]
    parent_id = accepted["parent_id"]
    qtbot.waitUntil(lambda: "placed" in desk.events(parent_id), timeout=5000)
    assert desk.events(parent_id)[:2] == ["accepted", "placed"]
    assert (accepted["side"], accepted["parent_quantity"]) == ("BUY", 130)
    assert accepted["tradingsymbol"] == w.snapshot.quote(atm, "CE").tradingsymbol  # type: ignore[union-attr]
    desk.clock.advance(2.0)  # the fill may already be in: the book is read once it is placed
    qtbot.waitUntil(lambda: "finished" in desk.events(parent_id), timeout=5000)
    finished = next(r for r in desk.rows if r["parent_id"] == parent_id
                    and r["event"] == "finished")
    assert finished["status"] == "filled" and finished["filled_quantity"] == 130
    qtbot.waitUntil(lambda: "filled" in [r["event"] for r in desk.dock_rows(parent_id)],
                    timeout=3000)
    shown = desk.dock_rows(parent_id)
    assert [r["event"] for r in shown] == ["filled", "placed"]  # newest first
    assert shown[1]["quantity"] == 130 and shown[1]["latency_ms"] is not None
    lines = w.confirmations.lines()
    assert any("Accepted BUY 130" in line for line in lines)
    assert any(re.search(r"Done: BUY \S+ filled, 130/130 filled @ avg", line) for line in lines)
    qtbot.waitUntil(lambda: w.dock.tiles.text("placed").value == "1", timeout=3000)
    assert w.dock.tiles.text("fill_rate").value == "100.0%"
    lifecycle = [r for r in read_rows(stack.tracker.path) if r["event"] != "markout"]
    assert lifecycle[-1]["event"] == "finished"


def test_multi_strike_buy_all_sends_one_parent_per_leg(qtbot: QtBot, desk: Desk) -> None:
    w, stack = desk.window, desk.stack
    strikes = w.snapshot.strikes  # type: ignore[union-attr]
    click_chain(qtbot, w, strikes[7], 3, double=True)  # CE
    click_chain(qtbot, w, strikes[9], 5, double=True)  # PE
    assert [(leg.strike, leg.option_type) for leg in w.basket.model.legs] == [
        (strikes[7], "CE"), (strikes[9], "PE")]
    w.basket.policy_form.algo.setCurrentText("VWAP")
    type_into(qtbot, w.basket.policy_form.slices.lineEdit(), "2")
    type_into(qtbot, w.basket.policy_form.horizon.lineEdit(), "60")
    accepted: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    stack.parent_finished.connect(finished.append)  # one lot each: they may fill at once
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(accepted) == 2, timeout=5000)
    assert [(r["execution_algo"], r["side"]) for r in accepted] == [("VWAP", "BUY")] * 2
    ids = [r["parent_id"] for r in accepted]
    desk.clock.advance(120.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    assert {r["parent_id"] for r in finished} == set(ids)
    assert all(r["filled_quantity"] == 65 for r in finished)
    qtbot.waitUntil(lambda: all(desk.dock_rows(p) for p in ids), timeout=3000)
    symbols = {r["tradingsymbol"] for p in ids for r in desk.dock_rows(p)}
    assert len(symbols) == 2


def add_legs(w: DeskWindow, legs: list[tuple[int, str, str]]) -> None:
    """Legs (strike index, CE/PE, BUY/SELL) through the panel's picker, one lot each."""
    w.basket.model.clear()
    for i, kind, side in legs:
        w.basket.strike.set_strike(w.snapshot.strikes[i])  # type: ignore[union-attr]
        w.basket.option_type.setCurrentText(kind)
        w.basket.side.setCurrentText(side)
        w.basket.add_button.click()


def buy_two_slice_spread(qtbot: QtBot, desk: Desk, legs: list[tuple[int, str, str]]
                         ) -> tuple[BasketHandle, list[dict[str, Any]]]:
    """Two lots a leg as two-slice TWAP legs over 120 s, bought; returns once the first slice
    of each leg has filled (the hedge first, then its short), with the basket_finished rows
    to come."""
    w = desk.window
    w.basket.lots.setValue(2)
    add_legs(w, legs)
    form = w.basket.policy_form
    form.algo.setCurrentText("TWAP")
    form.slices.setValue(2)
    form.horizon.setValue(120)
    finished: list[dict[str, Any]] = []
    desk.stack.basket_finished.connect(finished.append)
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    (handle,) = w.baskets.values()

    def first_slices_filled() -> bool:
        desk.clock.advance(0.25)
        return sum(1 for r in desk.rows if r["event"] == "filled"
                   and r["basket_id"] == handle.basket_id) >= 2

    qtbot.waitUntil(first_slices_filled, timeout=10_000)
    return handle, finished


def test_buy_sends_mixed_sides_as_one_basket_and_exit_reverses_them(
        qtbot: QtBot, desk: Desk) -> None:
    w, stack = desk.window, desk.stack
    add_legs(w, [(10, "CE", "BUY"), (8, "CE", "SELL")])  # a bear call spread: hedge + short
    symbols = [w.basket.model.index(r, w.basket.model.SYMBOL).data() for r in range(2)]
    accepted: list[dict[str, Any]] = []
    baskets: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    stack.basket_finished.connect(baskets.append)
    sent: list[tuple[str, list[str]]] = []
    w.basket_submitted.connect(lambda basket_id, ids: sent.append((basket_id, ids)))
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    assert len(sent) == 1 and len(sent[0][1]) == 2  # one basket, a parent per leg
    text = desk.baskets_asked[0]
    assert text.startswith("Buy (legs as entered): 2 legs")
    order = w.baskets[sent[0][0]]
    assert f"BUY {symbols[0]} first; SELL {symbols[1]} only as far as it has filled" in text
    qtbot.waitUntil(lambda: len(accepted) == 2, timeout=5000)
    assert [(r["tradingsymbol"], r["side"], r["leg_role"], r["basket_id"]) for r in accepted] \
        == [(symbols[0], "BUY", "hedge", order.basket_id),
            (symbols[1], "SELL", "covered", order.basket_id)]
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(baskets) == 1, timeout=10_000)
    assert baskets[0]["status"] == "filled"

    accepted.clear()
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    text = desk.baskets_asked[1]
    assert text.startswith("Exit (what each leg holds, reversed): 2 legs")
    assert f"BUY {symbols[1]} first; SELL {symbols[0]} only as far as it has filled" in text
    qtbot.waitUntil(lambda: len(accepted) == 2, timeout=5000)
    assert [(r["tradingsymbol"], r["side"], r["leg_role"]) for r in accepted] == [
        (symbols[0], "SELL", "covered"), (symbols[1], "BUY", "hedge")]
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(baskets) == 2, timeout=10_000)
    positions: dict[str, int] = {}
    for o in stack.broker.orders():  # the exchange's view: everything traded back
        positions[o.tradingsymbol] = positions.get(o.tradingsymbol, 0) + (
            o.filled_quantity if o.side == "BUY" else -o.filled_quantity)
    assert positions == {symbols[0]: 0, symbols[1]: 0}


def test_a_basket_cancelled_half_way_is_unwound_from_the_dock_to_a_flat_account(
        qtbot: QtBot, desk: Desk) -> None:
    """A bull call spread as two-slice TWAP legs: after the first slices fill, the trader
    cancels the basket from its dock line; the stopped basket shows its report with Complete
    and Unwind; Unwind (confirmed) trades back every filled unit, hedge first, and the
    exchange's positions end flat."""
    w, stack = desk.window, desk.stack
    handle, finished = buy_two_slice_spread(qtbot, desk, [(8, "CE", "BUY"), (10, "CE", "SELL")])
    panel = w.dock.parents_panel
    assert [r["leg_role"] for r in desk.rows if r["event"] == "filled"] == ["hedge", "covered"]
    qtbot.waitUntil(lambda: (r := panel.basket_rows.get(handle.basket_id)) is not None
                    and r.cancel_button.isVisible(), timeout=5000)
    row = panel.basket_rows[handle.basket_id]
    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    desk.clock.advance(1.0)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=10_000)
    assert finished[0]["status"] == "partial"
    assert "cancelled by the trader" in finished[0]["message"]
    qtbot.waitUntil(lambda: (r := panel.basket_rows.get(handle.basket_id)) is not None
                    and r.unwind_button.isVisible(), timeout=5000)
    stopped = panel.basket_rows.get(handle.basket_id)
    assert stopped is not None and stopped.complete_button.isVisible()
    qtbot.mouseClick(stopped.unwind_button, Qt.MouseButton.LeftButton)
    assert desk.baskets_asked[-1].startswith(f"Unwind basket {handle.basket_id}")
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    assert finished[1]["status"] == "filled"
    positions: dict[str, int] = {}
    for o in stack.broker.orders():
        positions[o.tradingsymbol] = positions.get(o.tradingsymbol, 0) + (
            o.filled_quantity if o.side == "BUY" else -o.filled_quantity)
    assert set(positions.values()) == {0}


def test_overriding_hedge_first_needs_the_legging_risk_acknowledgement(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    add_legs(w, [(10, "PE", "BUY"), (8, "PE", "SELL")])
    refused: list[str] = []
    w.order_refused.connect(lambda reason, _payload: refused.append(reason))
    desk.basket_choice[0] = BasketChoice(hedge_first=False, acknowledge_legging_risk=False)
    assert w.basket.buy_all_button.isEnabled()
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    assert w.baskets == {} and "acknowledge_legging_risk" in refused[0]
    assert any("Refused: basket: " in line for line in w.confirmations.lines())
    desk.basket_choice[0] = BasketChoice(hedge_first=False, acknowledge_legging_risk=True)
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    (handle,) = w.baskets.values()
    qtbot.waitUntil(lambda: any(r["event"] == "basket_accepted" for r in desk.rows),
                    timeout=5000)
    accepted = next(r for r in desk.rows if r["event"] == "basket_accepted")
    assert accepted["basket_id"] == handle.basket_id and "legging risk" in accepted["message"]
    desk.basket_choice[0] = None  # the trader cancels the confirmation: nothing is sent
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    assert len(w.baskets) == 1


def test_the_basket_dialog_sends_without_hedge_first_only_once_acknowledged(
        qtbot: QtBot) -> None:
    dialog = BasketConfirmDialog("Buy (legs as entered): 2 legs")
    qtbot.addWidget(dialog)
    assert dialog.send_button.isEnabled() and dialog.choice() == BasketChoice()
    assert not dialog.acknowledge.isEnabled()
    dialog.override.setChecked(True)
    assert not dialog.send_button.isEnabled() and dialog.acknowledge.isEnabled()
    dialog.acknowledge.setChecked(True)
    assert dialog.send_button.isEnabled()
    assert dialog.choice() == BasketChoice(hedge_first=False, acknowledge_legging_risk=True)
    dialog.override.setChecked(False)
    assert not dialog.acknowledge.isChecked() and dialog.choice() == BasketChoice()


def test_pause_then_cancel_a_running_twap_from_the_dock(qtbot: QtBot, desk: Desk) -> None:
    w, stack = desk.window, desk.stack
    w.quick.select(w.snapshot.strikes[3], "PE")  # type: ignore[union-attr]
    type_into(qtbot, w.quick.lots.lineEdit(), "4")
    w.quick.policy_form.algo.setCurrentText("TWAP")
    type_into(qtbot, w.quick.policy_form.slices.lineEdit(), "4")
    type_into(qtbot, w.quick.policy_form.horizon.lineEdit(), "400")
    with qtbot.waitSignal(stack.child_placed, timeout=5000) as placed:
        qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    parent_id = placed.args[0]["parent_id"]
    assert placed.args[0]["children"] == 4
    panel = w.dock.parents_panel
    qtbot.waitUntil(lambda: parent_id in panel.rows and
                    panel.rows[parent_id].pause_button.isEnabled(), timeout=3000)
    row = panel.rows[parent_id]

    with qtbot.waitSignal(stack.telemetry_row, timeout=5000,
                          check_params_cb=lambda r: r["event"] == "paused"):
        qtbot.mouseClick(row.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row.pause_button.text() == "Resume", timeout=3000)
    assert "paused" in row.subtitle.text() and "1 paused" in panel.heading.text()
    desk.clock.advance(250.0)  # slices 2 and 3 were due at +100 s and +200 s
    qtbot.wait(100)  # (asserting that nothing happens needs a moment of nothing)
    assert desk.events(parent_id).count("placed") == 1

    with qtbot.waitSignal(stack.parent_finished, timeout=5000,
                          check_params_cb=finished_with(parent_id)) as finished:
        qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
        desk.clock.advance(30.0)  # room for the cancel to reach the exchange
    assert finished.args[0]["status"] == "cancelled"
    assert finished.args[0]["filled_quantity"] <= 65  # only the first slice could fill
    never_sent = [r for r in desk.rows if r["parent_id"] == parent_id and
                  r["event"] == "cancelled" and r["message"] == "not sent: parent cancelled"]
    assert len(never_sent) == 3  # slices 2-4 each end with a row of their own
    qtbot.waitUntil(lambda: parent_id not in panel.rows, timeout=3000)
    assert any("Done:" in line and "cancelled" in line for line in w.confirmations.lines())
    statuses = {r["status"] for r in desk.dock_rows(parent_id)}
    assert "placed" in statuses and "cancelled" in statuses


def test_the_kill_switch_cancels_every_working_parent(qtbot: QtBot, desk: Desk) -> None:
    w, stack = desk.window, desk.stack
    w.quick.policy_form.algo.setCurrentText("TWAP")
    type_into(qtbot, w.quick.policy_form.slices.lineEdit(), "3")
    type_into(qtbot, w.quick.policy_form.horizon.lineEdit(), "300")
    type_into(qtbot, w.quick.lots.lineEdit(), "3")
    accepted: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.quick.sell_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(accepted) == 2, timeout=5000)
    panel = w.dock.parents_panel
    qtbot.waitUntil(lambda: panel.cancel_all_button.isEnabled() and len(panel.rows) == 2,
                    timeout=3000)
    finished: list[dict[str, Any]] = []
    stack.parent_finished.connect(finished.append)
    qtbot.mouseClick(panel.cancel_all_button, Qt.MouseButton.LeftButton)
    assert desk.asked == ["Cancel 2 working parents and every resting child order now?"]
    desk.clock.advance(30.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=5000)
    assert {r["status"] for r in finished} <= {"cancelled", "filled"}
    qtbot.waitUntil(lambda: not panel.rows, timeout=3000)


def test_the_kill_switch_key_fires_once_from_the_desk_docked_or_floating(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    for floating in (False, True):
        w.dock.setFloating(floating)
        w.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
        desk.asked.clear()
        w.chain_view.setFocus()
        qtbot.keyClick(w.chain_view, Qt.Key.Key_K,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert len(desk.asked) == 1  # one binding: neither ambiguous nor dead


def test_an_order_the_stack_refuses_is_confirmed_as_refused(qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    w.quick.policy_form.algo.setCurrentText("TWAP")
    type_into(qtbot, w.quick.lots.lineEdit(), "100")
    type_into(qtbot, w.quick.policy_form.slices.lineEdit(), "100")
    type_into(qtbot, w.quick.policy_form.horizon.lineEdit(), "30")  # 100 slices in 30 s
    with qtbot.waitSignal(w.order_refused, timeout=1000) as refused, \
            qtbot.assertNotEmitted(desk.stack.parent_accepted, wait=50):
        qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    assert refused.args[0].startswith("max_child_orders: 100 slices cannot fit in 30 s")
    assert w.confirmations.lines()[-1].endswith(refused.args[0])
    assert "Refused" in w.statusBar().currentMessage()


def mnemonics(window: QMainWindow) -> list[str]:
    found = []
    for widget in window.findChildren(QWidget):
        text = ""
        if isinstance(widget, QLabel) and widget.buddy() is not None:
            text = widget.text()
        elif isinstance(widget, QAbstractButton | QGroupBox):
            text = widget.text() if isinstance(widget, QAbstractButton) else widget.title()
        match = re.search(r"&([^&])", text)
        if match and widget.isVisibleTo(window):
            found.append(match.group(1).lower())
    for action in window.menuBar().actions():
        match = re.search(r"&([^&])", action.text())
        if match:
            found.append(match.group(1).lower())
    return found


def test_keyboard_mnemonics_are_unique_and_reach_the_fields(qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    letters = mnemonics(w)
    assert len(letters) >= 20 and len(letters) == len(set(letters)), letters
    # With each of the dock's chart tabs shown in turn (the TCA tab's "Parent" picker too).
    charts = w.dock.charts
    for tab in range(charts.count()):
        charts.setCurrentIndex(tab)
        letters = mnemonics(w)
        assert len(letters) == len(set(letters)), (charts.tabText(tab), "".join(sorted(letters)))
    charts.setCurrentIndex(0)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
    for key, field in ((Qt.Key.Key_L, w.quick.lots), (Qt.Key.Key_K, w.quick.strike),
                       (Qt.Key.Key_A, w.quick.policy_form.algo),
                       (Qt.Key.Key_M, w.dock.blotter.symbol_filter)):
        qtbot.keyClick(w, key, Qt.KeyboardModifier.AltModifier)
        focused = QApplication.focusWidget()
        assert focused is not None and (focused is field or field.isAncestorOf(focused))
    qtbot.keyClick(w.dock.blotter.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert w.dock.blotter.symbol_filter.hasFocus()
    # From an order field: the TCA tab to the front and its parent picker focused.
    w.quick.lots.setFocus()
    qtbot.keyClick(w.quick.lots, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert w.dock.charts.currentWidget() is w.dock.tca and w.dock.tca.picker.hasFocus()


def test_order_keys_send_only_from_the_quick_order_panel(qtbot: QtBot, desk: Desk) -> None:
    """Every documented key, pressed in the whole window as a trader would: F1/F2 send the
    quick order only from its panel; F2 on a basket cell edits it; Delete removes a leg."""
    w = desk.window
    submitted: list[dict[str, Any]] = []
    w.order_submitted.connect(lambda _parent_id, payload: submitted.append(payload))
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
    strikes = w.snapshot.strikes  # type: ignore[union-attr]
    click_chain(qtbot, w, strikes[5], 3, double=True)  # a basket leg
    qtbot.waitUntil(lambda: w.basket.model.rowCount() == 1, timeout=3000)

    table = w.basket.table
    table.setFocus()
    table.setCurrentIndex(w.basket.model.index(0, w.basket.model.HEADERS.index("Lots")))
    qtbot.keyClick(table, Qt.Key.Key_F2)  # edits the leg's lots...
    assert table.state() == table.State.EditingState
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    table.setCurrentIndex(w.basket.model.index(0, w.basket.model.HEADERS.index("B/S")))
    qtbot.keyClick(table, Qt.Key.Key_Space)  # toggles the leg's side...
    assert w.basket.model.legs[0].side == "SELL"
    qtbot.keyClick(table, Qt.Key.Key_B)
    qtbot.keyClick(table, Qt.Key.Key_S)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    assert w.basket.model.legs[0].side == "SELL" and desk.baskets_asked == []
    for target in (w.chain_view, w.dock.blotter.table, table):  # ...and sends nothing
        target.setFocus()
        qtbot.keyClick(target, Qt.Key.Key_F1)
        qtbot.keyClick(target, Qt.Key.Key_F2)
    qtbot.wait(50)
    assert submitted == []

    qtbot.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)  # the quick order's lots
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: len(submitted) == 1, timeout=3000)
    assert submitted[0]["transaction_type"] == "SELL"
    desk.clock.advance(5.0)
    qtbot.waitUntil(lambda: any(r["event"] == "placed" for r in desk.rows), timeout=5000)
    orders = desk.stack.broker.orders()
    assert [(o.side, o.tradingsymbol) for o in orders] == [
        ("SELL", submitted[0]["tradingsymbol"])]  # the one order that reached the broker

    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert w.basket.model.rowCount() == 0 and len(submitted) == 1


def test_live_mode_shows_the_banner(qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> None:
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                           telemetry_dir=tmp_path)
    window = DeskWindow(stack, chain_broker=PaperBroker(clock=clock), settings=qsettings,
                        poll_ms=100)
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.live_banner.isVisible() and "LIVE" in window.live_banner.text()
        assert "LIVE" in window.windowTitle() and window.dock.live_badge.isVisible()
        assert window.dock.path is not None
        assert window.dock.path.name == "execution_quality_live.jsonl"
    finally:
        window.close()
        stack.shutdown()


def test_desk_screenshot(qtbot: QtBot, desk: Desk, screenshot_dir: Path) -> None:
    """A session through both panels, then a picture (look at it: $IMPERIUM_SCREENSHOT_DIR)."""
    w, stack = desk.window, desk.stack
    w.setPalette(dark_palette())
    w.setFont(desk_font(9))
    strikes = w.snapshot.strikes  # type: ignore[union-attr]
    accepted: list[dict[str, Any]] = []
    stack.parent_accepted.connect(accepted.append)
    w.quick.select(strikes[8], "CE")
    type_into(qtbot, w.quick.lots.lineEdit(), "2")
    qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    w.quick.select(strikes[9], "PE")
    w.quick.policy_form.algo.setCurrentText("TWAP")
    type_into(qtbot, w.quick.policy_form.slices.lineEdit(), "6")
    type_into(qtbot, w.quick.policy_form.horizon.lineEdit(), "600")
    type_into(qtbot, w.quick.lots.lineEdit(), "6")
    qtbot.mouseClick(w.quick.buy_button, Qt.MouseButton.LeftButton)
    type_into(qtbot, w.basket.lots.lineEdit(), "4")  # lots for legs added from the chain
    for strike, kind in ((strikes[6], 3), (strikes[10], 5), (strikes[11], 3)):
        click_chain(qtbot, w, strike, kind, double=True)
    w.basket.policy_form.algo.setCurrentText("VWAP")
    type_into(qtbot, w.basket.policy_form.slices.lineEdit(), "4")
    type_into(qtbot, w.basket.policy_form.horizon.lineEdit(), "900")
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(accepted) == 5, timeout=5000)
    desk.clock.advance(320.0)
    qtbot.waitUntil(lambda: sum(r["event"] == "filled" for r in desk.rows) >= 6,
                    timeout=10_000)
    panel = w.dock.parents_panel  # the TWAP, and the basket's three legs under one line
    qtbot.waitUntil(lambda: (len(panel.rows), len(panel.basket_rows)) == (1, 1), timeout=5000)
    twap = next(r["parent_id"] for r in accepted if r["execution_algo"] == "TWAP")
    qtbot.mouseClick(w.dock.parents_panel.rows[twap].pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.dock.parents_panel.rows[twap].pause_button.text() == "Resume",
                    timeout=3000)
    w.dock.refresh_now()
    qtbot.wait(50)
    path = screenshot_dir / "desk.png"
    assert w.grab().save(str(path))
    assert path.stat().st_size > 50_000


def test_exit_while_the_basket_works_cancels_it_then_sends_what_each_leg_holds_to_flat(
        qtbot: QtBot, desk: Desk) -> None:
    """A bear call spread as two-slice TWAP legs; Exit is pressed once the first slices have
    filled, with the rest still working: the basket is cancelled first, then each leg's net
    filled units go back (hedge-first: the short is bought back before its hedge is sold),
    and the exchange's positions end flat with the short never uncovered."""
    w, stack = desk.window, desk.stack
    entry, finished = buy_two_slice_spread(qtbot, desk, [(10, "CE", "BUY"), (8, "CE", "SELL")])
    hedge, short = [w.basket.model.index(r, w.basket.model.SYMBOL).data() for r in range(2)]
    assert not entry.done()
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)

    def exit_sent() -> bool:
        desk.clock.advance(0.25)
        return len(w.baskets) == 2

    qtbot.waitUntil(exit_sent, timeout=10_000)
    assert finished[0]["basket_id"] == entry.basket_id  # cancelled before the exit went
    held = {r["tradingsymbol"]: r["parent_filled_quantity"] for r in desk.rows
            if r["event"] == "finished" and r["basket_id"] == entry.basket_id}
    text = desk.baskets_asked[-1]
    assert text.startswith("Exit (what each leg holds, reversed)")
    assert f"SELL {held[hedge]:,} {hedge}" in text and f"BUY {held[short]:,} {short}" in text
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    net = {hedge: 0, short: 0}
    worst_uncovered = 0
    for trade in stack.broker.trades():  # the exchange's fills, in time order
        net[trade.tradingsymbol] += trade.quantity if trade.side == "BUY" else -trade.quantity
        worst_uncovered = max(worst_uncovered, -net[short] - net[hedge])
    assert net == {hedge: 0, short: 0}
    assert worst_uncovered <= 0


def test_exit_after_an_unwind_sends_nothing_more(qtbot: QtBot, desk: Desk) -> None:
    """The Unwind of a stopped basket is part of what its legs hold: a later Exit of the same
    legs finds them flat and sends nothing (it would trade the position a second time)."""
    w = desk.window
    entry, finished = buy_two_slice_spread(qtbot, desk, [(8, "CE", "BUY"), (10, "CE", "SELL")])
    w.stack.cancel_basket(entry.basket_id)
    qtbot.waitUntil(lambda: len(finished) == 1 and entry.done(), timeout=10_000)
    unwind = w.unwind_basket(entry.basket_id)
    assert unwind is not None
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 2 and unwind.done(), timeout=10_000)
    qtbot.waitUntil(lambda: not w.positions.working(w.positions.of_baskets(
        [entry.basket_id, unwind.basket_id])), timeout=5000)
    baskets_before = len(w.baskets)
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    qtbot.wait(200)
    assert len(w.baskets) == baskets_before
    assert "every leg is flat" in w.statusBar().currentMessage()


def test_a_basket_leg_past_a_size_limit_is_confirmed_showing_it_then_sent(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    w.basket.lots.setValue(300)  # over NIFTY's 270 lots a parent
    add_legs(w, [(10, "CE", "BUY"), (8, "CE", "SELL")])
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    text = desk.baskets_asked[-1]
    assert "legs[0].lots: 300 lots is over the NIFTY limit of 270 lots for one order" in text
    assert "legs[1].lots: 300 lots is over the NIFTY limit" in text
    assert len(w.baskets) == 1  # confirmed (the desk's fixture sends): past the size limit


def exchange_nets(stack: ExecutionStack) -> dict[str, int]:
    nets: dict[str, int] = {}
    for o in stack.broker.orders():
        nets[o.tradingsymbol] = nets.get(o.tradingsymbol, 0) + (
            o.filled_quantity if o.side == "BUY" else -o.filled_quantity)
    return nets


def test_exit_pressed_twice_while_the_basket_works_sends_one_exit(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    _, finished = buy_two_slice_spread(qtbot, desk, [(10, "CE", "BUY"), (8, "CE", "SELL")])
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    assert "an exit of these legs is already on its way" in w.statusBar().currentMessage()

    def exit_sent() -> bool:
        desk.clock.advance(0.25)
        return len(w.baskets) == 2

    qtbot.waitUntil(exit_sent, timeout=10_000)
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    qtbot.wait(200)
    assert len(w.baskets) == 2  # one exit
    assert set(exchange_nets(desk.stack).values()) == {0}


def test_a_leg_flattened_from_positions_is_not_traded_again_by_the_basket_exit(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    add_legs(w, [(10, "CE", "BUY"), (8, "CE", "SELL")])
    hedge, short = [w.basket.model.index(r, w.basket.model.SYMBOL).data() for r in range(2)]
    finished: list[dict[str, Any]] = []
    desk.stack.basket_finished.connect(finished.append)
    qtbot.mouseClick(w.basket.buy_all_button, Qt.MouseButton.LeftButton)
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=10_000)
    qtbot.waitUntil(lambda: w.positions.net(short) == -65, timeout=5000)
    w.exits.exit_position(short, "NFO")  # the short bought back from Positions

    def short_flat() -> bool:
        desk.clock.advance(0.25)
        return w.positions.net(short) == 0 and not any(
            p.working for p in w.positions.parents.values())

    qtbot.waitUntil(short_flat, timeout=10_000)
    qtbot.mouseClick(w.basket.exit_all_button, Qt.MouseButton.LeftButton)
    text = desk.baskets_asked[-1]
    assert text.startswith("Exit (what each leg holds, reversed): 1 leg")
    assert f"SELL 65 {hedge}" in text and short not in text
    desk.clock.advance(10.0)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    assert exchange_nets(desk.stack) == {hedge: 0, short: 0}


def test_choosing_another_underlying_and_back_before_it_loads_shows_the_last_choice(
        qtbot: QtBot, desk: Desk) -> None:
    w = desk.window
    w.choose_chain("BANKNIFTY", None)
    w.choose_chain("NIFTY", None)
    fetches = w.poller.fetches
    qtbot.waitUntil(lambda: w.poller.fetches >= fetches + 3, timeout=5000)  # several polls
    assert w.snapshot is not None and w.snapshot.view.underlying == "NIFTY"
    assert w.chooser.underlying.currentText() == "NIFTY"
