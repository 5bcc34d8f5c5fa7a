"""The dock's TCA tab: each finished parent's shortfall in parts (a waterfall) and the fills'
markouts, from the journal's own rows: a real paper run's, and hand-built ones."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dock_support import T0, StackDouble, events, row
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMainWindow, QWidget
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets import ExecutionDock
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.tca_model import PARTS, TcaBook
from imperium_exec.widgets.tca_view import waterfall
from imperium_exec.widgets.theme import dark_palette

PART_FIELDS = {"delay": "is_delay", "spread": "is_spread", "drift": "is_drift",
               "opportunity": "is_opportunity", "fees": "fees"}


def finished(parent_id: str, *, ts: float, quantity: int = 130, decision: float = 100.0,
             **parts: float) -> dict[str, Any]:
    values = {PART_FIELDS[name]: parts.get(name, 0.0) for name in PART_FIELDS}
    return row("finished", parent_id=parent_id, ts=ts, parent_quantity=quantity,
               quantity=quantity, parent_filled_quantity=quantity, decision_price=decision,
               end_price=decision, **values)


def markout(parent_id: str, *, ts: float, horizon: float, bps: float, units: int = 65,
            priority: str = "take") -> dict[str, Any]:
    return row("markout", parent_id=parent_id, ts=ts, status="filled", child_index=1,
               filled_quantity=units, fill_price=100.0, markout_s=horizon,
               markout_mid=100.0 - bps / 100.0, markout_bps=bps, queue_priority=priority)


# ------------------------------------------------------------------ the book (no Qt)

def test_a_parents_parts_are_in_bps_of_its_ordered_value_and_today_adds_them_up() -> None:
    book = TcaBook()
    book.add(events([
        finished("A", ts=T0, quantity=100, decision=100.0, spread=50.0, drift=-20.0, fees=10.0),
        finished("B", ts=T0 + 1, quantity=300, decision=100.0, delay=30.0, opportunity=90.0),
    ]))
    a = book.get("A")
    assert a is not None
    assert a.bps(a.spread) == pytest.approx(50.0)  # 50 rupees on 100 x 100 = 10,000
    assert a.bps(a.total) == pytest.approx(40.0)
    today = book.today()
    assert today.parents == {"A", "B"} and today.ordered_value == pytest.approx(40_000.0)
    assert today.bps() == pytest.approx({"delay": 7.5, "spread": 12.5, "drift": -5.0,
                                         "opportunity": 22.5, "fees": 2.5})
    assert [c.parent_id for c in book.newest(10)] == ["B", "A"]


def test_history_read_newest_first_keeps_the_newest_parents_and_counts_every_one() -> None:
    book = TcaBook(keep=3)
    rows = [finished(f"P{i}", ts=T0 + i, spread=float(i)) for i in range(10)]
    for r in reversed(rows):  # a journal's history comes newest first
        book.add(events([r]))
    assert [c.parent_id for c in book.newest(10)] == ["P9", "P8", "P7"]
    assert len(book.today().parents) == 10
    assert book.today().rupees["spread"] == pytest.approx(sum(range(10)))
    book.add(events([rows[9]]))  # the same final row again changes nothing
    assert book.today().rupees["spread"] == pytest.approx(sum(range(10)))


def test_today_is_the_newest_trading_day() -> None:
    book = TcaBook()
    book.add(events([finished("YESTERDAY", ts=T0 - 86_400.0, spread=999.0),
                     finished("TODAY", ts=T0, spread=13.0)]))
    assert book.today().parents == {"TODAY"}
    assert book.today().rupees["spread"] == pytest.approx(13.0)


def test_markouts_are_quantity_weighted_per_horizon_taking_and_resting_apart() -> None:
    book = TcaBook()
    book.add(events([
        finished("A", ts=T0),
        markout("A", ts=T0 + 1, horizon=1.0, bps=4.0, units=65),
        markout("A", ts=T0 + 1, horizon=1.0, bps=10.0, units=130),
        markout("A", ts=T0 + 5, horizon=5.0, bps=-2.0, units=65, priority="join"),
    ]))
    today = book.today().markouts
    assert today["taking"].curve() == [(1.0, pytest.approx(8.0))]
    assert today["resting"].curve() == [(5.0, pytest.approx(-2.0))]
    assert today["all"].fills(1.0) == 195
    assert book.parent_markouts("A").curve() == [(1.0, pytest.approx(8.0)),
                                                 (5.0, pytest.approx(-2.0))]


def test_a_waterfall_stacks_each_part_on_the_running_total() -> None:
    bottoms, heights = waterfall([10.0, -4.0, 6.0])
    assert bottoms == [0.0, 6.0, 6.0, 0.0]
    assert heights == [10.0, 4.0, 6.0, 12.0]  # the last bar is the total, from 0
    assert waterfall([-5.0]) == ([-5.0, -5.0], [5.0, 5.0])


# ------------------------------------------------------------------ the tab, on a paper run

def paper_rows() -> list[dict[str, Any]]:
    """A TWAP buy, an IS sell and a far limit that mostly never fills, on the paper exchange,
    with markouts (the engine's default)."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=4, margin=1e10)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, config=EngineConfig(id_seed=2))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    chain = broker.option_chain("NIFTY", strikes_each_side=3)
    atm = [r.strike for r in chain.rows].index(chain.atm_strike)
    try:
        for offset, fields in ((0, dict(side="BUY", quantity=650, execution_algo="TWAP",
                                        max_child_orders=5, horizon_s=60.0)),
                               (1, dict(side="SELL", quantity=390, execution_algo="IS",
                                        max_child_orders=3, horizon_s=30.0)),
                               (0, dict(side="BUY", quantity=650, order_type="LIMIT",
                                        limit_price=0.05, execution_algo="TWAP",
                                        max_child_orders=2, horizon_s=10.0))):
            quote = chain.rows[atm + offset].call
            _, future = engine.submit(ExecutionRequest.model_validate(dict(
                tradingsymbol=quote.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, **fields)))
            future.result(timeout=60)
        # Every fill's markouts written (the idle virtual clock runs on to each horizon).
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            fills = sum(r["event"] == "filled" for r in list(rows))
            if sum(r["event"] == "markout" for r in list(rows)) >= 3 * fills:
                break
            time.sleep(0.01)
    finally:
        engine.shutdown(10.0)
    return rows


@pytest.fixture(scope="module")
def run_rows() -> list[dict[str, Any]]:
    return paper_rows()


def make_dock(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
              qsettings: QSettings) -> tuple[QMainWindow, ExecutionDock]:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setFont(desk_font(9))
    dock = ExecutionDock(tracker, stack, settings=qsettings, interval_ms=20, refresh_ms=20)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.setCentralWidget(QWidget())
    window.resize(1000, 980)
    window.show()
    qtbot.waitExposed(window)
    return window, dock


def test_the_tca_tab_draws_each_parents_finished_row_and_today(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings, run_rows: list[dict[str, Any]]) -> None:
    _, dock = make_dock(qtbot, tracker, stack, qsettings)
    stack.send(*run_rows)
    finals = [r for r in run_rows if r["event"] == "finished"]
    assert len(finals) == 3 and sum(r["event"] == "markout" for r in run_rows) > 0
    dock.charts.setCurrentWidget(dock.tca)
    qtbot.waitUntil(lambda: dock.tca.picker.count() == 4, timeout=3000)
    assert dock.tca.picker.itemText(0) == "Today: 3 finished parents added up"
    for final in finals:
        assert dock.tca.pick(final["parent_id"])
        value = final["parent_quantity"] * final["decision_price"]
        expected = [final[PART_FIELDS[name]] / value * 1e4 for name, _ in PARTS]
        assert dock.tca.values == pytest.approx([*expected, sum(expected)], abs=1e-9)
        assert f"{sum(expected):+.1f} bps" in dock.tca.summary.text()
    # The far limit mostly missed: its opportunity cost is its own bar.
    unfilled = finals[2]
    assert unfilled["filled_quantity"] < unfilled["quantity"]
    assert dock.tca.pick(unfilled["parent_id"])
    assert dock.tca.values[3] == pytest.approx(
        unfilled["is_opportunity"] / (unfilled["parent_quantity"]
                                      * unfilled["decision_price"]) * 1e4)
    # Today: the parts of all three added up, over their ordered value.
    dock.tca.picker.setCurrentIndex(0)
    total_value = sum(r["parent_quantity"] * r["decision_price"] for r in finals)
    today = [sum(r[PART_FIELDS[name]] for r in finals) / total_value * 1e4
             for name, _ in PARTS]
    assert dock.tca.values == pytest.approx([*today, sum(today)], abs=1e-9)
    # The markout curve of today's taking fills: the rows' quantity-weighted means.
    marks = [r for r in run_rows if r["event"] == "markout" and r["markout_bps"] is not None
             and r["queue_priority"] == "take" and r["markout_s"] == 5.0]
    assert marks
    mean = sum(r["markout_bps"] * r["filled_quantity"] for r in marks) \
        / sum(r["filled_quantity"] for r in marks)
    curve = dict(dock.tca_book.today().markouts["taking"].curve())
    assert curve[5.0] == pytest.approx(mean)


def test_the_hidden_tab_costs_nothing_and_catches_up_when_shown(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings, run_rows: list[dict[str, Any]]) -> None:
    _, dock = make_dock(qtbot, tracker, stack, qsettings)
    assert dock.charts.currentIndex() == 0  # Latency
    stack.send(*run_rows)
    qtbot.waitUntil(lambda: dock.tca_book.parents_version == 3, timeout=3000)
    dock.refresh_now()
    assert dock.tca.picker.count() == 0 and dock.tca.values == []  # not listed, not drawn
    dock.charts.setCurrentWidget(dock.tca)
    assert dock.tca.picker.count() == 4 and len(dock.tca.values) == len(PARTS) + 1


def test_picking_an_order_shows_its_parent_in_the_tca_tab(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings, run_rows: list[dict[str, Any]]) -> None:
    _, dock = make_dock(qtbot, tracker, stack, qsettings)
    stack.send(*run_rows)
    dock.charts.setCurrentWidget(dock.tca)
    qtbot.waitUntil(lambda: dock.orders.model.rowCount() > 0, timeout=3000)
    table = dock.orders.table
    table.setFocus()
    index = dock.orders.model.index(0, 0)
    table.setCurrentIndex(index)
    shown = dock.orders.model.data(index, Qt.ItemDataRole.UserRole + 2)
    assert isinstance(shown, dict)
    assert dock.tca.picked == shown["parent_id"]
    qtbot.keyClick(table, Qt.Key.Key_End)  # keys move the pick too
    last = dock.orders.model.data(table.currentIndex(), Qt.ItemDataRole.UserRole + 2)
    assert dock.tca.picked == last["parent_id"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_tca_tab_screenshot(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
                            qsettings: QSettings, screenshot_dir: Path, theme: str,
                            run_rows: list[dict[str, Any]]) -> None:
    window, dock = make_dock(qtbot, tracker, stack, qsettings)
    if theme == "dark":
        window.setPalette(dark_palette())
    stack.send(*run_rows)
    dock.charts.setCurrentWidget(dock.tca)
    qtbot.waitUntil(lambda: dock.tca.picker.count() == 4, timeout=3000)
    dock.tca.picker.setCurrentIndex(2)  # the IS sell
    qtbot.wait(30)
    path = screenshot_dir / f"dock_{theme}_tca.png"
    assert dock.charts.grab().save(str(path))
    assert path.stat().st_size > 10_000
