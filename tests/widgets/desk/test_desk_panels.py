"""The desk's order panels on their own: mouse and keyboard in, tickets out."""

from __future__ import annotations

import pytest
from dock_support import chain_snapshot
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QSpinBox
from pytestqt.qtbot import QtBot

from imperium_exec.widgets.desk.basket_panel import BasketModel, BasketPanel
from imperium_exec.widgets.desk.quick_order_panel import QuickOrderPanel
from imperium_exec.widgets.desk.tickets import BasketLeg, ChainSnapshot, ExecutionPolicy


@pytest.fixture(scope="module")
def snapshot() -> ChainSnapshot:
    return chain_snapshot()


def select_all_and_type(qtbot: QtBot, widget: object, text: str) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def test_quick_order_by_mouse_and_keyboard(qtbot: QtBot, snapshot: ChainSnapshot) -> None:
    panel = QuickOrderPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.buy_button.isEnabled()  # nothing to price before the chain arrives
    panel.set_snapshot(snapshot)
    assert panel.strike.strike() == snapshot.view.atm_strike
    assert "ATM" in panel.strike.currentText()
    panel.strike.setFocus()
    qtbot.keyClick(panel.strike, Qt.Key.Key_Down)
    qtbot.mouseClick(panel.put, Qt.MouseButton.LeftButton)
    select_all_and_type(qtbot, panel.lots.lineEdit(), "4")
    form = panel.policy_form
    assert not form.slices.isEnabled()  # IMMEDIATE has no schedule
    form.algo.setFocus()
    qtbot.keyClicks(form.algo, "TWAP")
    assert form.algo.currentText() == "TWAP" and form.slices.isEnabled()
    assert not form.participation.isEnabled()  # POV only
    select_all_and_type(qtbot, form.slices.lineEdit(), "8")
    select_all_and_type(qtbot, form.horizon.lineEdit(), "240")
    qtbot.mouseClick(form.randomize, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.order_requested, timeout=1000) as sent:
        qtbot.mouseClick(panel.sell_button, Qt.MouseButton.LeftButton)
    ticket = sent.args[0]
    assert ticket.side == "SELL"
    assert ticket.leg == BasketLeg(snapshot.strikes[5], "PE", 4)
    assert ticket.policy == ExecutionPolicy(algo="TWAP", slices=8, horizon_s=240.0,
                                            randomize=False)
    assert panel.quote_label.text().startswith(snapshot.quote(snapshot.strikes[5],
                                                              "PE").tradingsymbol)
    assert "260 units" in panel.quote_label.text()
    panel.buy_button.setFocus()
    with qtbot.waitSignal(panel.order_requested, timeout=1000) as sent:
        qtbot.keyClick(panel.buy_button, Qt.Key.Key_Space)
    assert sent.args[0].side == "BUY"


def test_pov_enables_participation(qtbot: QtBot, snapshot: ChainSnapshot) -> None:
    panel = QuickOrderPanel()
    qtbot.addWidget(panel)
    panel.set_snapshot(snapshot)
    panel.policy_form.algo.setCurrentText("POV")
    assert panel.policy_form.participation.isEnabled()
    select_all_and_type(qtbot, panel.policy_form.participation.lineEdit(), "25")
    assert panel.ticket("BUY").policy.participation == pytest.approx(0.25)


def test_basket_legs_by_mouse_and_keyboard(qtbot: QtBot, snapshot: ChainSnapshot) -> None:
    panel = BasketPanel()
    qtbot.addWidget(panel)
    panel.resize(520, 520)
    panel.show()
    qtbot.waitExposed(panel)
    assert not panel.add_button.isEnabled() and not panel.buy_all_button.isEnabled()
    panel.set_snapshot(snapshot)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)  # ATM CE, 1 lot
    panel.strike.setCurrentIndex(0)
    panel.option_type.setCurrentText("PE")
    select_all_and_type(qtbot, panel.lots.lineEdit(), "2")
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    panel.strike.setCurrentIndex(8)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert [(leg.option_type, leg.lots) for leg in panel.model.legs] == [
        ("CE", 1), ("PE", 2), ("PE", 2)]
    # edit the first leg's lots in place: select the cell, F2, type, Enter
    table = panel.table
    table.setFocus()
    table.setCurrentIndex(panel.model.index(0, BasketModel.LOTS))
    qtbot.keyClick(table, Qt.Key.Key_F2)
    assert table.state() == QAbstractItemView.State.EditingState
    editor = table.viewport().findChild(QSpinBox)
    assert editor is not None
    select_all_and_type(qtbot, editor, "3")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next loop turn
    qtbot.waitUntil(lambda: panel.model.legs[0].lots == 3, timeout=1000)
    # remove the last leg with the Delete key
    table.setFocus()
    table.selectRow(2)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert len(panel.model.legs) == 2
    panel.policy_form.algo.setCurrentText("VWAP")
    with qtbot.waitSignal(panel.basket_requested, timeout=1000) as sent:
        qtbot.mouseClick(panel.exit_all_button, Qt.MouseButton.LeftButton)
    legs, action, policy = sent.args
    assert action == "EXIT" and policy.algo == "VWAP"
    assert legs == [BasketLeg(snapshot.view.atm_strike, "CE", 3),
                    BasketLeg(snapshot.strikes[0], "PE", 2)]
    assert panel.model.index(0, BasketModel.SYMBOL).data() == snapshot.quote(
        snapshot.view.atm_strike, "CE").tradingsymbol


def test_adding_the_same_leg_twice_adds_lots(qtbot: QtBot, snapshot: ChainSnapshot) -> None:
    panel = BasketPanel()
    qtbot.addWidget(panel)
    panel.set_snapshot(snapshot)
    panel.add(snapshot.strikes[2], "CE", 1)
    panel.add(snapshot.strikes[2], "CE", 2)
    assert panel.model.legs == [BasketLeg(snapshot.strikes[2], "CE", 3)]
    assert not panel.model.setData(panel.model.index(0, BasketModel.LOTS), 0)  # >= one lot
    panel.add(snapshot.strikes[2], "CE", 1, "SELL")  # the other side: a leg of its own
    assert panel.model.legs == [BasketLeg(snapshot.strikes[2], "CE", 3),
                                BasketLeg(snapshot.strikes[2], "CE", 1, "SELL")]


def test_a_leg_side_is_toggled_by_keyboard_and_buy_and_exit_send_it(
        qtbot: QtBot, snapshot: ChainSnapshot) -> None:
    panel = BasketPanel()
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_snapshot(snapshot)
    panel.add(snapshot.strikes[6], "CE", 1)  # from the chain: BUY
    panel.side.setCurrentText("SELL")
    panel.strike.setCurrentIndex(4)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)  # the picker's side
    assert [leg.side for leg in panel.model.legs] == ["BUY", "SELL"]
    table = panel.table
    table.setFocus()
    table.setCurrentIndex(panel.model.index(0, BasketModel.SIDE))
    qtbot.keyClick(table, Qt.Key.Key_Space)  # toggles
    assert panel.model.legs[0].side == "SELL"
    assert panel.model.index(0, BasketModel.SIDE).data() == "S"
    qtbot.keyClick(table, Qt.Key.Key_B)  # B buys, S sells
    assert panel.model.legs[0].side == "BUY"
    assert table.state() != QAbstractItemView.State.EditingState
    with qtbot.waitSignal(panel.basket_requested, timeout=1000) as sent:
        qtbot.mouseClick(panel.buy_all_button, Qt.MouseButton.LeftButton)
    legs, action, _policy = sent.args
    assert action == "BUY" and [leg.side for leg in legs] == ["BUY", "SELL"]
    payloads = snapshot.basket_payloads(legs, _policy, reverse=True)  # what Exit sends
    assert [p["transaction_type"] for p in payloads] == ["SELL", "BUY"]
