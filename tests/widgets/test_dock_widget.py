"""ExecutionDock as a widget: fed by a stack (double) or a file, parents controls, kill switch,
filters by keyboard, CSV export, layout in QSettings, coalesced repaints, screenshots."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from dock_support import StackDouble, parent_story, row, write_rows
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from imperium_exec.events import read_event
from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets import ExecutionDock, RowFilter
from imperium_exec.widgets.events_model import COLUMN_INDEX
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.theme import dark_palette


def make_dock(qtbot: QtBot, source: FillQualityTracker | Path, stack: object = None, *,
              settings: QSettings) -> ExecutionDock:
    dock = ExecutionDock(source, stack, settings=settings, interval_ms=20, refresh_ms=20)
    qtbot.addWidget(dock)
    dock.resize(900, 900)
    dock.show()
    qtbot.waitExposed(dock)
    return dock


def answer_next_dialog(qtbot: QtBot, button: QMessageBox.StandardButton,
                       seen: list[str]) -> None:
    """Click ``button`` on the next modal message box (the kill switch's confirmation)."""
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, click)
            return
        seen.append(box.text())
        qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, click)


def test_rows_from_the_stack_fill_the_blotter_tiles_and_parents(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    done = parent_story("DONE", children=2, filled=2, algo="IMMEDIATE")
    working = parent_story("TWAP1", children=4, filled=1, finished=False)
    stack.send(*done, *working)
    qtbot.waitUntil(lambda: dock.model.rowCount() == 9, timeout=3000)
    qtbot.waitUntil(lambda: "TWAP1" in dock.parents_panel.rows, timeout=3000)
    assert dock.tiles.text("placed").value == "6"
    assert dock.tiles.text("fill_rate").value == "50.0%"
    assert list(dock.parents_panel.rows) == ["TWAP1"]
    twap = dock.parents_panel.rows["TWAP1"]
    assert twap.progress.value() == 250 and "65 / 260" in twap.progress.format()
    assert twap.pause_button.isEnabled() and dock.parents_panel.cancel_all_button.isEnabled()
    newest = dock.model.row_dict(0)
    assert newest["parent_id"] == "TWAP1" and newest["event"] == "placed"
    assert dock.blotter.count_label.text() == "9 child events"
    assert dock.windowTitle() == "Execution quality — paper"
    assert not dock.live_badge.isVisible()


def test_pause_resume_and_cancel_buttons_drive_the_stack(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("TWAP1", children=4, filled=1, finished=False))
    qtbot.waitUntil(lambda: "TWAP1" in dock.parents_panel.rows, timeout=3000)
    twap = dock.parents_panel.rows["TWAP1"]
    qtbot.mouseClick(twap.pause_button, Qt.MouseButton.LeftButton)
    assert stack.calls == [("pause", "TWAP1")]
    stack.send(row("paused", parent_id="TWAP1", parent_quantity=260,
                   parent_filled_quantity=65))
    qtbot.waitUntil(lambda: twap.pause_button.text() == "Resume", timeout=3000)
    assert "paused" in twap.subtitle.text()
    twap.pause_button.setFocus()
    qtbot.keyClick(twap.pause_button, Qt.Key.Key_Space)  # keyboard works too
    qtbot.mouseClick(twap.cancel_button, Qt.MouseButton.LeftButton)
    assert stack.calls[1:] == [("resume", "TWAP1"), ("cancel", "TWAP1")]
    stack.send(row("finished", parent_id="TWAP1", status="cancelled",
                   parent_filled_quantity=65))
    qtbot.waitUntil(lambda: not dock.parents_panel.rows, timeout=3000)
    assert dock.parents_panel.placeholder.isVisibleTo(dock.parents_panel)


def basket_legs(basket_id: str) -> list[dict[str, Any]]:
    """A hedged call spread's two legs, working: the hedge half filled, the short a lot."""
    common: dict[str, Any] = dict(basket_id=basket_id, execution_algo="TWAP", children=2)
    return [
        row("basket_accepted", parent_id="", basket_id=basket_id, status="working",
            tradingsymbol="", side=None, execution_algo=None, parent_quantity=260,
            parent_filled_quantity=0, children=None,
            message="NIFTY 26D01 CE: BUY NIFTY26D0126300CE first; SELL ..."),
        row("accepted", parent_id="L1", tradingsymbol="NIFTY26D0126300CE", side="BUY",
            parent_quantity=130, leg_role="hedge", **common),
        row("accepted", parent_id="L2", tradingsymbol="NIFTY26D0126100CE", side="SELL",
            parent_quantity=130, leg_role="covered", **common),
        row("filled", parent_id="L1", tradingsymbol="NIFTY26D0126300CE", side="BUY",
            parent_quantity=130, parent_filled_quantity=65, filled_quantity=65,
            fill_price=10.0, leg_role="hedge", **common),
        row("filled", parent_id="L2", tradingsymbol="NIFTY26D0126100CE", side="SELL",
            parent_quantity=130, parent_filled_quantity=65, filled_quantity=65,
            fill_price=30.0, leg_role="covered", **common),
    ]


def test_a_baskets_legs_show_under_one_line_and_cancel_basket_cancels_it(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("TWAP1", children=4, filled=1, finished=False))
    stack.send(*basket_legs("B1"))
    panel = dock.parents_panel
    qtbot.waitUntil(lambda: "B1" in panel.basket_rows, timeout=3000)
    qtbot.waitUntil(lambda: "filled 130 of 260" in panel.basket_rows["B1"].title.text(),
                    timeout=3000)
    line = panel.basket_rows["B1"]
    assert set(panel.rows) == {"TWAP1"}  # the legs have no rows of their own
    assert line.title.text() == "Basket B1: 2 legs, filled 130 of 260"
    assert line.legs.text().splitlines() == [
        "hedge: BUY NIFTY26D0126300CE  net +65 of 130",
        "covered: SELL NIFTY26D0126100CE  net -65 of 130"]
    assert "Working parents (3)" in panel.heading.text()
    assert line.cancel_button.isEnabled() and not line.complete_button.isVisibleTo(line)
    line.toggle.click()  # collapsed: only its line
    assert not line.legs.isVisibleTo(line) and not line.expanded()
    line.toggle.click()
    assert line.legs.isVisibleTo(line)
    qtbot.mouseClick(line.cancel_button, Qt.MouseButton.LeftButton)
    assert stack.calls == [("cancel_basket", "B1")]


def test_a_stopped_basket_shows_its_report_with_complete_and_unwind(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*basket_legs("B2"))
    for leg, side in (("L1", "BUY"), ("L2", "SELL")):
        stack.send(row("finished", parent_id=leg, basket_id="B2", side=side, status="partial",
                       parent_quantity=130, parent_filled_quantity=65, filled_quantity=65))
    report = "stopped: SELL NIFTY26D0126100CE rejected\n  BUY ...: 65 of 130 filled"
    stack.send(row("basket_finished", parent_id="", basket_id="B2", status="partial",
                   tradingsymbol="", side=None, execution_algo=None, children=None,
                   parent_quantity=260, parent_filled_quantity=130, message=report))
    panel = dock.parents_panel
    qtbot.waitUntil(lambda: "B2" in panel.basket_rows
                    and panel.basket_rows["B2"].complete_button.isVisibleTo(panel), timeout=3000)
    line = panel.basket_rows["B2"]
    assert line.legs.text() == report and line.title.text().endswith("· partial")
    assert not line.cancel_button.isVisibleTo(line)
    asked: list[tuple[str, str]] = []
    panel.complete_requested.connect(lambda b: asked.append(("complete", b)))
    panel.unwind_requested.connect(lambda b: asked.append(("unwind", b)))
    qtbot.mouseClick(line.complete_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(line.unwind_button, Qt.MouseButton.LeftButton)
    assert asked == [("complete", "B2"), ("unwind", "B2")]
    dock.dismiss_basket("B2")
    assert "B2" not in panel.basket_rows


def test_a_long_report_line_wraps_and_leaves_every_rows_controls_in_sight(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    """A stopped basket's report names a tag that may still be live at the broker: unwrapped,
    that line widened the list past a 600-px dock and put every row's progress bar, Pause
    and Cancel out of sight (the list scrolls only up and down)."""
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    dock.resize(600, 900)
    stack.send(*parent_story("TWAP1", children=4, filled=1, finished=False))
    stack.send(*basket_legs("B3"))
    long_line = ("BUY NIFTY26D0826250CE: filled 0 of 65, 65 left (basket stopped: cancelled "
                 "by the trader; may still be live at the broker: tag BCH3DOTREL00001)")
    report = f"stopped: cancelled by the trader\n{long_line}\nshort uncovered: none"
    stack.send(row("basket_finished", parent_id="", basket_id="B3", status="partial",
                   tradingsymbol="", side=None, execution_algo=None, children=None,
                   parent_quantity=260, parent_filled_quantity=130, message=report))
    panel = dock.parents_panel
    qtbot.waitUntil(lambda: "B3" in panel.basket_rows and "TWAP1" in panel.rows
                    and panel.basket_rows["B3"].unwind_button.isVisibleTo(panel),
                    timeout=3000)
    qtbot.wait(50)
    viewport = panel.scroll_area.viewport()
    line, twap = panel.basket_rows["B3"], panel.rows["TWAP1"]
    assert line.legs.fontMetrics().horizontalAdvance(long_line) > viewport.width()
    assert line.legs.text() == report  # all of it, wrapped
    for control in (twap.progress, twap.pause_button, twap.cancel_button, line.unwind_button,
                    line.complete_button):
        right = control.mapTo(viewport, control.rect().topRight()).x()
        assert 0 <= right < viewport.width(), control.text() if hasattr(control, "text") \
            else type(control).__name__


def test_cancel_all_asks_for_confirmation_first(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("A", finished=False, filled=0),
               *parent_story("B", finished=False, filled=0))
    qtbot.waitUntil(lambda: len(dock.parents_panel.rows) == 2, timeout=3000)
    asked: list[str] = []
    answer_next_dialog(qtbot, QMessageBox.StandardButton.No, asked)
    qtbot.mouseClick(dock.parents_panel.cancel_all_button, Qt.MouseButton.LeftButton)
    assert asked == ["Cancel 2 working parents and every resting child order now?"]
    assert stack.calls == []
    answer_next_dialog(qtbot, QMessageBox.StandardButton.Yes, asked)
    with qtbot.waitSignal(dock.parents_panel.cancel_all_requested, timeout=3000):
        qtbot.mouseClick(dock.parents_panel.cancel_all_button, Qt.MouseButton.LeftButton)
    assert stack.calls == [("cancel_all", None)]


def docked_window(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
                  qsettings: QSettings) -> tuple[QMainWindow, ExecutionDock, QWidget]:
    """A shown main window with the dock on the right (kill switch confirmed at once)."""
    window = QMainWindow()
    qtbot.addWidget(window)
    dock = ExecutionDock(tracker, stack, settings=qsettings, interval_ms=20, refresh_ms=20,
                         confirm=lambda _parent, _text: True)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    central = QWidget()
    window.setCentralWidget(central)
    window.show()
    qtbot.waitExposed(window)
    return window, dock, central


def test_the_kill_switch_shortcut_works_from_anywhere_in_the_window(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    window, dock, central = docked_window(qtbot, tracker, stack, qsettings)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    stack.send(*parent_story("A", finished=False, filled=0))
    qtbot.waitUntil(lambda: dock.parents_panel.cancel_all_button.isEnabled(), timeout=3000)
    central.setFocus()
    qtbot.keyClick(central, Qt.Key.Key_K,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert stack.calls == [("cancel_all", None)]


def test_the_kill_switch_acts_before_the_panel_shows_the_parent(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    asked: list[str] = []
    dock = ExecutionDock(tracker, stack, settings=qsettings, interval_ms=20, refresh_ms=60_000,
                         confirm=lambda _parent, text: asked.append(text) is None)
    qtbot.addWidget(dock)
    dock.show()
    qtbot.waitExposed(dock)
    assert not dock.parents_panel.rows  # nothing drawn yet: a parent just sent
    assert dock.parents_panel.cancel_all_button.isEnabled()
    with qtbot.waitSignal(dock.parents_panel.cancel_all_requested, timeout=3000):
        dock.parents_panel.shortcut.activated.emit()
    assert len(asked) == 1 and stack.calls == [("cancel_all", None)]


@pytest.mark.parametrize("floating", [False, True])
def test_the_kill_switch_shortcut_works_while_the_dock_floats(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings, floating: bool) -> None:
    window, dock, central = docked_window(qtbot, tracker, stack, qsettings)
    dock.setFloating(floating)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    central.setFocus()
    qtbot.keyClick(central, Qt.Key.Key_K,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert stack.calls == [("cancel_all", None)]


def test_filters_from_the_keyboard(qtbot: QtBot, tracker: FillQualityTracker,
                                   stack: StackDouble, qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("C1", symbol="NIFTY26D0126000CE", algo="TWAP"),
               *parent_story("P1", symbol="NIFTY26D0125900PE", algo="VWAP", filled=1))
    qtbot.waitUntil(lambda: dock.model.rowCount() == 13, timeout=3000)
    blotter = dock.blotter
    qtbot.keyClicks(blotter.symbol_filter, "25900")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 5, timeout=3000)
    assert blotter.count_label.text() == "5 of 13 child events"
    blotter.status_filter.setFocus()
    while blotter.status_filter.currentText() != "filled":
        qtbot.keyClick(blotter.status_filter, Qt.Key.Key_Down)
    assert dock.model.row_filter == RowFilter(symbol="25900", status="filled")
    assert [r["status"] for r in dock.model.visible_rows()] == ["filled"]
    blotter.symbol_filter.clear()
    qtbot.waitUntil(lambda: dock.model.rowCount() == 5, timeout=3000)  # 4 + 1 fills
    assert [blotter.algo_filter.itemText(i) for i in range(blotter.algo_filter.count())] == [
        "All", "TWAP", "VWAP"]
    assert [blotter.mode_filter.itemText(i) for i in range(blotter.mode_filter.count())] == [
        "All", "paper"]


def test_export_writes_the_visible_rows(qtbot: QtBot, tracker: FillQualityTracker,
                                        stack: StackDouble, qsettings: QSettings,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("P1", children=3, filled=2))
    qtbot.waitUntil(lambda: dock.model.rowCount() == 5, timeout=3000)
    dock.set_filter(RowFilter(status="filled"))
    target = tmp_path / "fills.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kw: (str(target), "CSV files (*.csv)"))
    with qtbot.waitSignal(dock.export_finished, timeout=5000) as done:
        qtbot.mouseClick(dock.blotter.export_button, Qt.MouseButton.LeftButton)
    assert done.args == [str(target), 2]
    with open(target, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0][:3] == ["Time", "Symbol", "Side"]
    assert [line[lines[0].index("Status")] for line in lines[1:]] == ["filled", "filled"]
    assert "Parent" not in lines[0]  # hidden columns stay out
    qtbot.waitUntil(dock.blotter.export_button.isEnabled, timeout=3000)


def test_one_export_at_a_time(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
                              qsettings: QSettings, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("P1", children=3, filled=2))
    qtbot.waitUntil(lambda: dock.model.rowCount() == 5, timeout=3000)
    asked: list[bool] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kw: asked.append(True) or ("", ""))
    failed: list[tuple[str, str]] = []
    dock.blotter.export_failed.connect(lambda path, why: failed.append((path, why)))
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    with qtbot.waitSignal(dock.export_finished, timeout=5000) as done:
        dock.export_csv(first)
        dock.export_csv(second)  # the first one ends on the event loop: still running
        dock.blotter.choose_export_path()  # the shortcut's path: no dialog meanwhile
    assert done.args[0] == str(first) and not second.exists()
    assert [path for path, _ in failed] == [str(second)] and asked == []
    qtbot.waitUntil(dock.blotter.export_button.isEnabled, timeout=3000)


def test_column_layout_is_kept_in_qsettings(qtbot: QtBot, tracker: FillQualityTracker,
                                            qsettings: QSettings) -> None:
    first = make_dock(qtbot, tracker, settings=qsettings)
    header = first.blotter.table.horizontalHeader()
    latency, symbol = COLUMN_INDEX["latency"], COLUMN_INDEX["symbol"]
    header.moveSection(header.visualIndex(latency), 1)
    header.setSectionHidden(symbol, True)
    header.resizeSection(latency, 140)
    first.blotter.table.sortByColumn(latency, Qt.SortOrder.AscendingOrder)
    first.hide()  # hiding saves; so does closing the host window
    second = make_dock(qtbot, tracker, settings=qsettings)
    again = second.blotter.table.horizontalHeader()
    assert again.visualIndex(latency) == 1
    assert again.isSectionHidden(symbol)
    assert again.sectionSize(latency) == 140
    assert second.model.sort_section == latency
    assert second.model.sort_order == Qt.SortOrder.AscendingOrder
    second.blotter.columns.reset()
    assert not again.isSectionHidden(symbol) and again.visualIndex(latency) == latency


def test_a_burst_costs_a_few_repaints(qtbot: QtBot, tracker: FillQualityTracker,
                                      stack: StackDouble, qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    viewport = dock.blotter.table.viewport()

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    counter = PaintCounter()
    viewport.installEventFilter(counter)
    # Ten emits back to back, more rows than a tick hands over from a tail (600): what
    # matters is that they come in one event-loop turn. The dock under 10,000 rows/s is
    # bench/bench_dock.py's.
    burst = [row("placed", parent_id=f"B{i % 50}", child_index=i) for i in range(2_000)]
    for start in range(0, len(burst), 200):
        stack.send(*burst[start:start + 200])  # ten emits of 200 rows, back to back
    qtbot.waitUntil(lambda: dock.model.rowCount() == len(burst), timeout=10_000)
    qtbot.wait(50)
    viewport.removeEventFilter(counter)
    assert dock.feed.batches_delivered <= 3
    assert counter.paints <= 6  # not 2,000, not even 10


def test_viewer_of_a_file_another_process_writes(qtbot: QtBot, tmp_path: Path,
                                                 qsettings: QSettings) -> None:
    path = tmp_path / "execution_quality_live.jsonl"
    write_rows(path, parent_story("OLD", children=2), torn=b'{"event": "plac')
    dock = make_dock(qtbot, path, settings=qsettings)
    assert dock.windowTitle() == "Execution quality — LIVE" and dock.live_badge.isVisible()
    qtbot.waitUntil(lambda: dock.model.rowCount() == 4, timeout=3000)
    # The other process appends what its tracker would (made here: a bare interpreter
    # starts in milliseconds, one importing Qt and the package in over a second).
    new_rows = b"".join(orjson.dumps(r) + b"\n" for r in parent_story(
        "NEW", children=3, filled=1, finished=False, mode="live"))
    writer = textwrap.dedent(f"""
        import sys
        with open({str(path)!r}, "ab") as f:
            f.write(b'ed"}}\\n')  # completes the torn line (a child row of no parent)
        with open({str(path)!r}, "ab") as f:
            f.write(sys.stdin.buffer.read())
    """)
    subprocess.run([sys.executable, "-I", "-S", "-c", writer], input=new_rows, check=True,
                   timeout=60)
    qtbot.waitUntil(lambda: dock.model.rowCount() == 9, timeout=5000)
    qtbot.waitUntil(lambda: "NEW" in dock.parents_panel.rows, timeout=3000)
    row_widget = dock.parents_panel.rows["NEW"]
    assert not row_widget.pause_button.isEnabled()  # not this session's stack: no controls
    assert not dock.parents_panel.cancel_all_button.isEnabled()
    with open(path, "wb"):
        pass  # the writer starts the journal over
    write_rows(path, [row("placed", parent_id="AFTER", mode="live")])
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=5000)
    assert dock.model.row_dict(0)["parent_id"] == "AFTER"
    qtbot.waitUntil(lambda: dock.parents_panel.rows.keys() == {"AFTER"}, timeout=3000)


def test_a_dock_needs_a_source(qapp: QApplication) -> None:
    # The QApplication first: a QWidget made without one aborts the process (the test's
    # worker, when this is the first widget test it runs).
    with pytest.raises(ValueError, match="tracker_or_path"):
        ExecutionDock(None)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_dock_screenshot(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
                         qsettings: QSettings, screenshot_dir: Path, theme: str) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setFont(desk_font(9))
    if theme == "dark":
        window.setPalette(dark_palette())
    dock = ExecutionDock(tracker, stack, settings=qsettings, interval_ms=20, refresh_ms=20)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.setCentralWidget(QWidget())
    window.resize(960, 980)
    window.show()
    qtbot.waitExposed(window)
    for i, (algo, latency) in enumerate((("IMMEDIATE", 8.0), ("TWAP", 15.0), ("VWAP", 22.0),
                                         ("POV", 35.0), ("IS", 60.0))):
        stack.send(*parent_story(f"P{i}", children=4, filled=2 + i % 3, algo=algo,
                                 latency_ms=latency, finished=i < 3,
                                 symbol=f"NIFTY26D01{25800 + 100 * i}{'CE' if i % 2 else 'PE'}"))
    stack.send(row("retry", parent_id="P3", error_bucket="throttle", error="Too many requests",
                   parent_filled_quantity=130, child_index=3),
               row("error", parent_id="P4", error_bucket="risk", parent_filled_quantity=195,
                   error="Insufficient funds. Required margin is 95,000", child_index=4))
    # P3's fourth child waits on the order book, 3 s by the stack's clock.
    waiting = row("reconciling", parent_id="P3", child_index=4, child_id="P3-4", tag="P300401",
                  tradingsymbol="NIFTY26D0126100CE", execution_algo="POV",
                  error_bucket="transient", ambiguous=True, parent_filled_quantity=130,
                  error="NetworkException: Request failed (kitetrade-oms)",
                  message="checking the order book for tag P300401 (up to 10 s) before "
                          "re-sending")
    stack.clock_ts = waiting["ts"] + 3.0
    stack.send(waiting)
    qtbot.waitUntil(lambda: len(dock.parents_panel.rows) == 2, timeout=3000)
    qtbot.waitUntil(lambda: dock.parents_panel.rows["P3"].checking.isVisible(), timeout=3000)
    assert dock.parents_panel.rows["P3"].checking.text() == \
        "checking the order book for tag P300401, 3 s"
    dock.refresh_now()
    qtbot.wait(50)
    path = screenshot_dir / f"dock_{theme}.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 20_000
    for tab, name in ((1, "slippage"), (2, "errors")):
        dock.charts.setCurrentIndex(tab)
        qtbot.wait(20)
        chart = screenshot_dir / f"dock_{theme}_{name}.png"
        assert dock.charts.grab().save(str(chart))


def test_a_lost_session_shows_a_banner_until_orders_flow_again(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble, qsettings: QSettings,
        screenshot_dir: Path) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    stack.send(*parent_story("P1", children=2, filled=1, finished=False))
    session = row("session", parent_id="", tradingsymbol="", execution_algo="",
                  status="relogin_needed", error_bucket="fatal",
                  error="re-login needed: TokenException: Incorrect `api_key` or `access_token`.",
                  order_id="261124000000002",
                  message="Orders that may still be live: 261124000000002")
    stack.send(session)
    qtbot.waitUntil(lambda: not dock.session_banner.isHidden(), timeout=3000)
    assert "re-login needed" in dock.session_banner.text()
    assert "261124000000002" in dock.session_banner.text()
    assert [p.parent_id for p in dock.parent_book.active()] == ["P1"]  # no parent for ""
    dock.refresh_now()
    assert dock.grab().save(str(screenshot_dir / "dock_session_banner.png"))
    stack.send(row("accepted", parent_id="P2"))  # logged in again: orders flow
    qtbot.waitUntil(lambda: dock.session_banner.isHidden(), timeout=3000)


@pytest.mark.parametrize("accepted_after", [True, False])
def test_the_banner_follows_the_newest_of_session_and_accepted_rows_in_a_long_history(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings, accepted_after: bool) -> None:
    """A history comes newest chunk first: an accepted parent read before an older session
    row still means orders flowed again after it (and the other way round, the session is
    lost)."""
    path = tmp_path / "execution_quality_paper.jsonl"
    session = row("session", parent_id="", tradingsymbol="", execution_algo="",
                  status="relogin_needed", error_bucket="fatal", error="re-login needed")
    filler = [row("cancelled", parent_id=f"X{i}") for i in range(150)]  # > a 64 KB chunk
    accepted = row("accepted", parent_id="AFTER")
    if accepted_after:
        accepted["ts"] = session["ts"] + 100.0
    else:
        session["ts"] = accepted["ts"] + 100.0
    write_rows(path, [session, *filler, accepted] if accepted_after
               else [accepted, *filler, session])
    dock = make_dock(qtbot, path, settings=qsettings)
    with qtbot.waitSignal(dock.feed.backlog_loaded, timeout=10_000):
        pass
    assert dock.session_banner.isHidden() is accepted_after


def test_a_journal_from_before_the_typed_schema_and_v1_desk_rows_load(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings, screenshot_dir: Path) -> None:
    data = Path(__file__).parents[1] / "data"
    old = (data / "journal_before_typed_schema.jsonl").read_bytes()
    seed = (data / "journal_seed_v1.jsonl").read_bytes()
    path = tmp_path / "execution_quality_paper.jsonl"
    path.write_bytes(seed + old + b'{"v": 1, "event": "placed", "quantity": "sixty-five"}\n')
    rows = [orjson.loads(line) for line in old.splitlines()]
    child_rows = sum(1 for r in rows if read_event(r).is_child_event) + 3  # + the seed rows
    finished = sum(1 for r in rows if r["event"] == "finished")
    dock = make_dock(qtbot, path, settings=qsettings)
    qtbot.waitUntil(lambda: dock.model.rowCount() == child_rows, timeout=5000)
    assert len(dock.parent_book.finished) == finished
    assert dock.parent_book.finished_by_status["filled"] >= 1
    symbols = {dock.model.row_dict(i)["tradingsymbol"] for i in range(dock.model.rowCount())}
    assert "NIFTY26D0126000CE" in symbols  # the v1 desk's rows are in the blotter
    qtbot.waitUntil(lambda: "1 row skipped: wrong type: quantity" in dock.source_label.text(),
                    timeout=3000)
    assert dock.grab().save(str(screenshot_dir / "dock_old_journal.png"))


def test_the_parents_panel_draws_at_most_its_cap_this_sessions_parents_first(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    """A journal left 100 parents open: the panel draws 40 rows and says how many more."""
    for i in range(100):
        tracker.append(parent_story(f"OLD{i:03d}", children=1, finished=False)[0])
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    qtbot.waitUntil(lambda: len(dock.parent_book) == 100, timeout=5000)
    stack.send(*parent_story("MINE", children=2, filled=1, finished=False))
    panel = dock.parents_panel
    qtbot.waitUntil(lambda: "MINE" in panel.rows, timeout=3000)
    dock.refresh_now()
    assert len(panel.rows) == panel.MAX_ROWS
    assert panel.more_label.isVisible() and panel.more_label.text().startswith("+61 more")
    assert "Working parents (101)" in panel.heading.text()
    assert "OLD099" in panel.rows and "OLD000" not in panel.rows  # the newest of the rest
    assert panel.rows["MINE"].pause_button.isEnabled()  # this session's: controllable


def test_this_sessions_parents_always_show_however_many(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    panel = dock.parents_panel
    for i in range(panel.MAX_ROWS + 5):
        stack.send(parent_story(f"MINE{i:02d}", children=1, finished=False)[0])
    qtbot.waitUntil(lambda: len(panel.rows) == panel.MAX_ROWS + 5, timeout=5000)
    assert not panel.more_label.isVisible()


def test_parents_left_open_on_an_earlier_day_are_one_line_not_working_rows(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings, screenshot_dir: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    day = 24 * 3600.0
    old = [r | {"ts": r["ts"] - 3 * day}
           for i in range(3) for r in parent_story(f"OLD{i}", children=1, finished=False)]
    write_rows(path, old + parent_story("NOW", children=2, filled=1, finished=False))
    dock = make_dock(qtbot, path, settings=qsettings)
    panel = dock.parents_panel
    qtbot.waitUntil(lambda: "NOW" in panel.rows, timeout=3000)
    dock.refresh_now()
    assert list(panel.rows) == ["NOW"]
    assert panel.interrupted_label.isVisible()
    assert panel.interrupted_label.text().startswith("3 interrupted parents: no final row")
    assert "OLD0" in panel.interrupted_label.toolTip()
    assert panel.grab().save(str(screenshot_dir / "parents_interrupted.png"))


def test_parents_a_crashed_session_left_open_earlier_today_are_interrupted(
        qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
        qsettings: QSettings) -> None:
    """The stack's own journal: a parent with nothing written since this stack started was
    an earlier session's (the process died), however recent: not working, not controllable."""
    crashed = [r | {"ts": stack.started_ts - 600.0}
               for r in parent_story("CRASHED", children=2, filled=1, finished=False)]
    for r in crashed:
        tracker.append(r)
    dock = make_dock(qtbot, tracker, stack, settings=qsettings)
    panel = dock.parents_panel
    stack.send(*parent_story("MINE", children=2, filled=1, finished=False))
    qtbot.waitUntil(lambda: "MINE" in panel.rows, timeout=3000)
    dock.refresh_now()
    assert list(panel.rows) == ["MINE"]
    assert panel.interrupted_label.text().startswith("1 interrupted parent: no final row")
    assert "CRASHED" in panel.interrupted_label.toolTip()
