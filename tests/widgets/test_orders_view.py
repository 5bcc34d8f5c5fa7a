"""The orders view: a batch updates rows in place, the dock opens on it (events a tab away),
its default columns show Status in the desk's dock, five working parents show, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dock_support import T0, StackDouble, events, parent_story, row
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMainWindow, QWidget
from pytestqt.qtbot import QtBot
from test_orders_model import child, fill, realistic_events

from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets import ExecutionDock, RowFilter
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.orders_model import ORDER_COLUMN_INDEX, ORDER_COLUMNS, STATUS_TEXT
from imperium_exec.widgets.orders_view import ChildOrderTableModel
from imperium_exec.widgets.theme import LIGHT, dark_palette


class Spy:
    """What a model announced: inserted ranges, changed ranges, resets and layout changes."""

    def __init__(self, model: ChildOrderTableModel) -> None:
        self.inserted: list[tuple[int, int]] = []
        self.changed: list[tuple[int, int]] = []
        self.other: list[str] = []
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.dataChanged.connect(lambda a, b, *_: self.changed.append((a.row(), b.row())))
        model.modelReset.connect(lambda: self.other.append("reset"))
        model.layoutChanged.connect(lambda *_: self.other.append("layout"))
        model.rowsRemoved.connect(lambda *_: self.other.append("removed"))


def col(key: str) -> int:
    return ORDER_COLUMN_INDEX[key]


def shown(model: ChildOrderTableModel, key: str) -> list[Any]:
    return [model.index(r, col(key)).data() for r in range(model.rowCount())]


def test_a_batch_changes_its_rows_in_place_and_puts_new_orders_on_top(qtbot: QtBot) -> None:
    model = ChildOrderTableModel()
    model.apply([child("placed", float(i), child_index=i, send_at=1e9 + i)
                 for i in range(1, 6)])
    assert shown(model, "child") == ["5/4", "4/4", "3/4", "2/4", "1/4"]  # newest first
    spy = Spy(model)
    model.apply([fill(10.0, 65, 100.10, child_index=2, send_at=1e9 + 2),
                 child("placed", 11.0, child_index=6, send_at=1e9 + 6)])
    assert spy.inserted == [(0, 0)] and spy.other == []  # one insertion, at the top
    assert spy.changed == [(4, 4)]  # child 2 only (it is now row 4)
    assert model.index(4, col("status")).data() == "part filled"
    assert model.index(4, col("filled")).data() == "65/130"


def test_sorted_by_a_changing_column_rows_move_to_their_place(qtbot: QtBot) -> None:
    model = ChildOrderTableModel()
    stories = realistic_events(3, parents=6)
    model.sort(col("filled"), Qt.SortOrder.DescendingOrder)
    for start in range(0, len(stories), 7):  # many small batches: rows move as they fill
        model.apply(stories[start:start + 7])
        rows = model.visible_book_rows()
        filled = model.book.numbers("filled", rows)
        assert (np.diff(filled) <= 0).all()
    assert sorted(rows.tolist()) == list(range(len(model.book)))
    model.MAX_RUNS = 0  # the path for batches touching rows all over the view
    model.sort(col("status"), Qt.SortOrder.AscendingOrder)
    model.apply(realistic_events(4, parents=6))
    labels = [model.index(r, col("status")).data() for r in range(model.rowCount())]
    assert labels == sorted(labels) and model.rowCount() == len(model.book)


def test_the_filter_bar_filters_orders_too_as_their_status_changes(qtbot: QtBot) -> None:
    model = ChildOrderTableModel()
    model.apply(events(parent_story("A", children=3, filled=1, finished=False)))
    model.set_filter(RowFilter(status="placed"))
    assert shown(model, "child") == ["3/3", "2/3"]
    later = model.book.numbers("updated").max() - T0 + 1.0
    model.apply([fill(later, 65, 100.0, parent_id="A", child_index=2)])  # no longer placed
    assert shown(model, "child") == ["3/3"]
    model.set_filter(RowFilter(symbol="nomatch"))
    assert model.rowCount() == 0


def test_slippage_is_red_as_a_cost_and_green_as_a_saving(qtbot: QtBot) -> None:
    model = ChildOrderTableModel()
    model.apply([fill(1.0, 65, 100.5, child_index=1, send_at=1.0),  # BUY above arrival
                 fill(1.0, 65, 99.5, child_index=2, send_at=2.0)])
    cost = model.index(1, col("slip"))
    saving = model.index(0, col("slip"))
    assert cost.data() == "+50.0" and cost.data(Qt.ItemDataRole.ForegroundRole) == LIGHT.bad
    assert saving.data() == "-50.0" and \
        saving.data(Qt.ItemDataRole.ForegroundRole) == LIGHT.good
    status = model.index(0, col("status"))
    assert status.data(Qt.ItemDataRole.ForegroundRole) == LIGHT.status("partially_filled")


def make_dock(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
              settings: QSettings, width: int = 600, height: int = 999,
              theme: str = "light") -> tuple[QMainWindow, ExecutionDock]:
    """The dock as the desk shows it: 600 px wide (the desk's default window gives it 601)."""
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setFont(desk_font(9))
    if theme == "dark":
        window.setPalette(dark_palette())
    dock = ExecutionDock(tracker, stack, settings=settings, interval_ms=20, refresh_ms=20)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    central = QWidget()
    central.setMinimumWidth(200)
    window.setCentralWidget(central)
    window.resize(200 + width, height)
    window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
    window.show()
    qtbot.waitExposed(window)
    return window, dock


def test_the_dock_opens_on_orders_and_the_events_are_a_tab_away(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    _, dock = make_dock(qtbot, tracker, stack, qsettings)
    tabs = dock.blotter.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Orders", "Events"]
    assert tabs.currentWidget() is dock.orders
    stack.send(*parent_story("P1", children=2, filled=2), *parent_story("P2", children=3,
                                                                        filled=1,
                                                                        finished=False))
    qtbot.waitUntil(lambda: dock.orders.model.rowCount() == 5, timeout=3000)
    assert dock.model.rowCount() == 8  # the events: placed and filled rows
    dock.orders.update_count()
    assert dock.orders.count_label.text() == "5 child orders · 2 open"
    dock.set_filter(RowFilter(algo="TWAP", symbol="26000"))
    assert dock.orders.model.row_filter == dock.model.row_filter
    tabs.setCurrentIndex(1)
    assert dock.blotter.table.isVisible() and not dock.orders.isVisible()
    stack.send(row("placed", parent_id="P3"))
    qtbot.waitUntil(lambda: dock.orders.model.rowCount() == 6, timeout=3000)
    dock._on_restarted()  # the journal was truncated: both start over
    assert dock.orders.model.rowCount() == 0 and len(dock.orders.model.book) == 0


def test_the_orders_column_layout_is_kept_in_qsettings(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    _, first = make_dock(qtbot, tracker, stack, qsettings)
    header = first.orders.table.horizontalHeader()
    first.orders.columns.set_column_visible(col("attempts"), True)
    header.moveSection(header.visualIndex(col("status")), 0)
    first.orders.table.sortByColumn(col("slip"), Qt.SortOrder.AscendingOrder)
    first.save_layout()
    _, second = make_dock(qtbot, tracker, stack, qsettings)
    again = second.orders.table.horizontalHeader()
    assert not again.isSectionHidden(col("attempts")) and again.visualIndex(col("status")) == 0
    assert second.orders.model.sort_section == col("slip")
    second.orders.columns.reset()
    assert again.isSectionHidden(col("attempts")) and again.visualIndex(col("status")) == \
        col("status")


def test_in_a_600_px_dock_the_default_columns_show_status_in_full(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    _, dock = make_dock(qtbot, tracker, stack, qsettings)
    assert 590 <= dock.width() <= 610
    stack.send(*[r for i in range(12) for r in
                 parent_story(f"P{i}", children=4, filled=i % 4, finished=False)])
    qtbot.waitUntil(lambda: dock.orders.model.rowCount() == 48, timeout=3000)
    table = dock.orders.table
    qtbot.waitUntil(table.verticalScrollBar().isVisible, timeout=3000)  # rows to scroll
    header = table.horizontalHeader()
    viewport = table.viewport().width()
    status = col("status")
    assert not header.isSectionHidden(status)
    assert header.sectionViewportPosition(status) + header.sectionSize(status) <= viewport
    assert dock.orders.shown_width() <= viewport  # no horizontal scrolling at all
    widest = max(table.fontMetrics().horizontalAdvance(t) for t in STATUS_TEXT.values())
    assert header.sectionSize(status) >= widest + 8
    shown_keys = [c.key for i, c in enumerate(ORDER_COLUMNS) if not header.isSectionHidden(i)]
    assert shown_keys == ["sent", "symbol", "side", "status", "filled", "avg", "slip"]


def visible_parent_rows(dock: ExecutionDock) -> int:
    """Parent rows drawn whole inside the panel's visible area."""
    viewport = dock.parents_panel.scroll_area.viewport()
    whole = 0
    for widget in dock.parents_panel.rows.values():
        top = widget.mapTo(viewport, widget.rect().topLeft()).y()
        if widget.isVisible() and top >= 0 and top + widget.height() <= viewport.height():
            whole += 1
    return whole


def test_the_desks_default_window_shows_five_working_parents(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    from imperium_exec.widgets.desk.app import DemoOptions

    # The dock's size in the desk demo's default window (1760 x 1040): 601 x 999.
    assert (DemoOptions().width, DemoOptions().height) == (1760, 1040)
    _, dock = make_dock(qtbot, tracker, stack, qsettings, width=601, height=999)
    stack.send(*[r for i in range(7) for r in
                 parent_story(f"W{i}", children=4, filled=1, finished=False)])
    qtbot.waitUntil(lambda: len(dock.parents_panel.rows) == 7, timeout=3000)
    qtbot.wait(20)
    assert visible_parent_rows(dock) >= 5


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_orders_view_screenshot(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
                                qsettings: QSettings, screenshot_dir: Path, theme: str) -> None:
    window, dock = make_dock(qtbot, tracker, stack, qsettings, width=601, height=999,
                             theme=theme)
    for i, algo in enumerate(("IMMEDIATE", "TWAP", "VWAP", "POV", "IS", "TWAP")):
        stack.send(*parent_story(f"P{i}", children=4, filled=1 + i % 3, algo=algo,
                                 finished=i < 1,
                                 symbol=f"NIFTY26D01{25800 + 100 * i}{'CE' if i % 2 else 'PE'}"))
    stack.send(row("filled", parent_id="P2", child_index=4, status="partially_filled",
                   quantity=130, filled_quantity=65, fill_price=99.85,
                   realized_slippage=-0.15, realized_slippage_bps=-15.0),
               row("retry", parent_id="P3", child_index=4, error_bucket="throttle",
                   error="Too many requests"),
               row("rejected", parent_id="P4", child_index=4, status="rejected",
                   error_bucket="risk", error="Insufficient funds. Required margin is 95,000"),
               row("cancelled", parent_id="P5", child_index=4, status="cancelled"))
    qtbot.waitUntil(lambda: len(dock.parents_panel.rows) == 5, timeout=3000)
    qtbot.waitUntil(lambda: dock.orders.model.rowCount() == 24, timeout=3000)
    dock.refresh_now()
    dock.orders.update_count()
    qtbot.wait(50)
    assert visible_parent_rows(dock) >= 5
    path = screenshot_dir / f"orders_dock_{theme}.png"
    assert dock.grab().save(str(path))
    assert path.stat().st_size > 20_000 and window.isVisible()
