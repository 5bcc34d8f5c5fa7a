"""The TCA tab's what-if: the picked parent replayed under every algorithm off the GUI thread,
its cost with its band beside the realized one, from the keyboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMainWindow
from pytestqt.qtbot import QtBot

from imperium_exec.telemetry import read_rows
from imperium_exec.testing.paper_session import paper_session
from imperium_exec.whatif.market import read_markets
from imperium_exec.whatif.replay import ALGORITHMS
from imperium_exec.widgets import ExecutionDock
from imperium_exec.widgets.fonts import desk_font
from imperium_exec.widgets.whatif_view import WhatIfPanel


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return paper_session(tmp_path_factory.mktemp("whatif_dock") / "paper.jsonl", parents=8,
                         seed=12)


def test_the_picked_parent_replays_off_the_gui_thread_and_shows_each_algorithms_band(
        qtbot: QtBot, qsettings: QSettings, journal: Path, screenshot_dir: Path) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setFont(desk_font(9))
    dock = ExecutionDock(journal, settings=qsettings, interval_ms=20, refresh_ms=20)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    host_field = QLineEdit()  # the host's own panel has the focus
    window.setCentralWidget(host_field)
    window.resize(1000, 980)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    host_field.setFocus()
    # From anywhere in the window: the TCA tab comes to the front, its picker focused.
    qtbot.keyClick(host_field, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert dock.charts.currentWidget() is dock.tca and dock.tca.picker.hasFocus()
    finished = read_markets(read_rows(journal)).parents
    qtbot.waitUntil(lambda: dock.tca.picker.count() == 1 + len(finished), timeout=5000)
    panel = dock.tca.what_if
    assert not panel.button.isEnabled()  # today's aggregate: nothing to replay
    twap = next(p for p in finished if p.algo == "TWAP")
    assert dock.tca.pick(twap.parent_id)
    assert panel.button.isEnabled() and panel.table.item(0, 0) is None
    # The line shows its start: the side and quantity, not the end of a long text.
    line = dock.tca.picker.lineEdit()
    assert line is not None and line.cursorPosition() == 0
    assert line.text().startswith(f"{twap.side.value} {twap.quantity} ")
    dock.tca.picker.setFocus()
    qtbot.keyClick(dock.tca.picker, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert dock.tca.pages.currentWidget() is panel  # in the charts' place
    assert panel.button.hasFocus()  # the toggle put the focus on Replay
    qtbot.keyClick(panel.button, Qt.Key.Key_Space)  # the keyboard presses it
    # The press returned with the replay still running: it runs on its own thread.
    assert panel.running and panel.progress.isVisible() and panel.table.item(0, 0) is None
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)

    assert panel.status.text().startswith(f"What-if for {twap.parent_id} against arrival")
    realized, fees = (float(panel.table.item(0, c).text().replace(",", "")) for c in (0, 3))
    # The realized cost with its fees, as the parent's shortfall counts them (within the
    # table's rounding to the rupee).
    found = re.search(r"realized with fees: ([+-]?[\d,]+) ₹ ", panel.status.text())
    assert found is not None
    with_fees = float(found.group(1).replace(",", ""))
    assert with_fees == pytest.approx(realized + fees, abs=1.0)
    rows = [panel.table.verticalHeaderItem(i).text() for i in range(panel.table.rowCount())]
    assert rows == ["realized", "IMMEDIATE", "TWAP (its own)", "VWAP", "POV", "IS"]
    for i in range(1, 1 + len(ALGORITHMS)):
        band = panel.table.item(i, 1)
        assert band is not None and " to " in band.text()
    realized = panel.table.item(0, 0)
    assert realized is not None and realized.text() != ""
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Down)  # rows move under the arrows
    qtbot.wait(30)
    assert dock.charts.grab().save(str(screenshot_dir / "dock_tca_whatif.png"))

    dock.tca.picker.setCurrentIndex(0)  # another pick clears it
    assert panel.table.item(0, 0) is None
    # Another parent picked with Enter while the what-if shows: Space replays it next.
    assert dock.tca.pick(finished[0].parent_id) and panel.button.isEnabled()
    dock.tca.picker.setFocus()
    assert line is not None
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert panel.button.hasFocus()


def test_a_parent_that_cannot_be_replayed_says_why_in_the_tables_place(
        qtbot: QtBot, journal: Path) -> None:
    panel = WhatIfPanel(journal)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_parent("P1")
    assert panel.table.isVisible()
    panel._running = "P1"  # as a replay's end hands it back (a failure, or too little market)
    panel._done("What-if for P1 failed: the journal went away")
    assert panel.status.text().endswith("went away") and not panel.table.isVisible()
    panel.set_parent("P2")
    assert panel.table.isVisible() and panel.status.text().startswith("What-if for P2")
