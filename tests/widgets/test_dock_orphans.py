"""The dock's orphans panel on a stack double: it appears with a report that holds parents (and
stays hidden on a clean one), its buttons and keys reach the stack, and rows go with their
parents' finished rows. End to end on the paper exchange: tests/widgets/test_dock_orphans_paper.py.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

from dock_support import T0, StackDouble, parent_story, row
from orphans_support import SYMBOL, Handle, order, orphan, report, result
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_exec.engine.state import ExecutionResult
from imperium_exec.recovery.report import RecoveryReport
from imperium_exec.request import Side
from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets.dock import ExecutionDock

DAY = 24 * 3600.0


class RecoveringStack(StackDouble):
    """The stack double with restart recovery: its report, and futures the test resolves."""

    recovery_ready = Signal(object)

    def __init__(self, tracker: FillQualityTracker) -> None:
        super().__init__(tracker)
        self.check: concurrent.futures.Future[RecoveryReport] = concurrent.futures.Future()
        self.cancel_all_future: concurrent.futures.Future[list[ExecutionResult]] = \
            concurrent.futures.Future()
        self.handles: dict[str, Handle] = {}

    def recovery(self) -> concurrent.futures.Future[RecoveryReport]:
        return self.check

    def cancel_orphans(self) -> concurrent.futures.Future[list[ExecutionResult]]:
        self.calls.append(("cancel_orphans", None))
        return self.cancel_all_future

    def adopt(self, parent_id: str, *, window_s: float | None = None) -> Handle:
        self.calls.append(("adopt", parent_id))
        handle = self.handles[parent_id] = Handle(f"N{parent_id[1:]}")
        return handle

    def report(self, found: RecoveryReport) -> None:
        """The check ends: its future, then the signal (as the stack's thread does)."""
        self.check.set_result(found)
        self.recovery_ready.emit(found)


def make_dock(qtbot: QtBot, tracker: FillQualityTracker, stack: StackDouble,
              settings: QSettings, asked: list[str] | None = None) -> ExecutionDock:
    def confirm_adopt(_parent: QWidget, text: str) -> bool:
        if asked is not None:
            asked.append(text)
        return True

    dock = ExecutionDock(tracker, stack, settings=settings, interval_ms=20, refresh_ms=20,
                         confirm_adopt=confirm_adopt)
    qtbot.addWidget(dock)
    dock.resize(620, 900)
    dock.show()
    qtbot.waitExposed(dock)
    return dock


def crashed_story(parent_id: str, ts: float, **kw: Any) -> list[dict[str, Any]]:
    """A parent an earlier session left working (its rows at ``ts``), as the journal has it."""
    return [r | {"ts": ts} for r in parent_story(parent_id, children=4, filled=1,
                                                 finished=False, **kw)]


def test_the_panel_lists_a_reports_orphans_and_stays_hidden_on_a_clean_one(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings) -> None:
    stack = RecoveringStack(tracker)
    dock = make_dock(qtbot, tracker, stack, qsettings)
    panel = dock.orphans_panel
    stack.report(report())
    qtbot.wait(50)
    assert not panel.isVisible()
    stack.recovery_ready.emit(report(
        orphan("A000000001", filled=65, down=65, orders=(order("9001", "A00000000100201", 65),)),
        orphan("S000000002", side=Side.SELL, quantity=130,
               not_adoptable="its request is not in the journal (written before schema 5): "
                             "cancel it")))
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    assert panel.header.text().startswith("2 parents left working by the last session; "
                                          "1 order still open at the broker")
    assert list(panel.rows) == ["A000000001", "S000000002"]
    a, s = panel.rows["A000000001"], panel.rows["S000000002"]
    assert a.detail.text() == "A000000001 · filled 65 of 260 · 65 while the desk was down"
    assert a.orders.text() == "open at the broker: 9001 (65 pending)"
    assert "tag A00000000100201" in a.orders.toolTip()
    assert a.adopt_button.isEnabled() and a.cancel_button.isEnabled()
    assert not a.state.isVisible()
    # not adoptable: Adopt is disabled and says why (and so does the row)
    assert not s.adopt_button.isEnabled()
    assert s.adopt_button.toolTip().startswith("Cannot adopt S000000002: its request is not")
    assert s.state.isVisible() and s.state.text().startswith("not adoptable: its request")
    assert s.cancel_button.isEnabled()
    # the next report is clean (everything was resolved elsewhere): the panel goes
    stack.recovery_ready.emit(report())
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=2000)
    assert panel.rows == {}


def test_a_report_that_came_before_the_dock_is_taken_from_the_stack(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings) -> None:
    """The check may end before the dock connects (the signal then reached nobody)."""
    stack = RecoveringStack(tracker)
    stack.check.set_result(report(orphan("A000000001")))
    dock = make_dock(qtbot, tracker, stack, qsettings)
    assert dock.orphans_panel.isVisible() and list(dock.orphans_panel.rows) == ["A000000001"]


def test_cancel_all_calls_cancel_orphans_and_the_rows_go_once_their_finished_rows_arrive(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings) -> None:
    stack = RecoveringStack(tracker)
    dock = make_dock(qtbot, tracker, stack, qsettings)
    panel = dock.orphans_panel
    stack.report(report(orphan("A000000001"), orphan("S000000002", side=Side.SELL),
                        unknown=(order("77", "Z00000000100101", 65),)))
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    assert panel.loose_label.isVisible() and "Cancel all cancels it" in panel.loose_label.text()
    qtbot.mouseClick(panel.cancel_all_button, Qt.MouseButton.LeftButton)
    assert stack.calls == [("cancel_orphans", None)]
    assert not panel.cancel_all_button.isEnabled()  # once
    assert [r.state.text() for r in panel.rows.values()] == ["cancelling…", "cancelling…"]
    assert all(not r.adopt_button.isEnabled() for r in panel.rows.values())
    stack.send(row("finished", parent_id="S000000002", status="cancelled"))
    qtbot.waitUntil(lambda: list(panel.rows) == ["A000000001"], timeout=2000)
    stack.send(row("finished", parent_id="A000000001", status="cancelled"))
    qtbot.waitUntil(lambda: not panel.rows, timeout=2000)
    stack.cancel_all_future.set_result([result("S000000002"), result("A000000001")])
    qtbot.waitUntil(lambda: panel.dismiss_button.isVisible(), timeout=2000)
    assert "Cancel all: 2 held parents ended, 1 open order without a parent cancelled" \
        in panel.outcomes.text()
    assert not panel.loose_label.isVisible() and not panel.cancel_all_button.isVisible()
    qtbot.mouseClick(panel.dismiss_button, Qt.MouseButton.LeftButton)
    assert not panel.isVisible()


def test_the_rows_answer_the_keyboard_enter_adopts_and_delete_cancels(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings,
        screenshot_dir: Path) -> None:
    stack = RecoveringStack(tracker)
    asked: list[str] = []
    dock = make_dock(qtbot, tracker, stack, qsettings, asked)
    panel = dock.orphans_panel
    stack.report(report(orphan("A000000001", filled=65,
                               orders=(order("9001", "A00000000100201", 65),)),
                        orphan("B000000002")))
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    first = panel.rows["A000000001"]
    assert "Enter adopts, Delete cancels" in first.toolTip()
    first.setFocus()
    qtbot.waitUntil(first.hasFocus, timeout=2000)
    qtbot.keyClick(first, Qt.Key.Key_Return)
    assert stack.calls == [("adopt", "A000000001")]
    assert asked == ["Adopt A000000001: cancel its 1 open order, then send the remaining 195 "
                     f"units of BUY {SYMBOL} as a new TWAP parent over what "
                     "is left of its window (at least 60 s)?"]
    assert first.state.text() == "adopting as N000000001…"
    qtbot.keyClick(first, Qt.Key.Key_Down)
    second = panel.rows["B000000002"]
    qtbot.waitUntil(second.hasFocus, timeout=2000)
    qtbot.keyClick(second, Qt.Key.Key_Delete)
    assert stack.calls[-1] == ("cancel", "B000000002")
    assert second.state.text() == "cancelling…"
    assert panel.grab().save(str(screenshot_dir / "orphans_keyboard.png"))
    # The adoption is refused by the stack: said on the row, which may try again
    stack.handles["A000000001"].future.set_exception(ValueError("the market is closed"))
    qtbot.waitUntil(lambda: first.state.text() == "not adopted: the market is closed",
                    timeout=2000)
    assert first.adopt_button.isEnabled()


def test_held_parents_are_not_counted_as_interrupted_once_a_report_holds_them(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings) -> None:
    """Before the report, the crashed session's parent is interrupted ("check the broker's
    order book"); once the report holds it, it is in the orphans panel only, and a parent of
    an earlier day (which no check holds) is said to be that."""
    stack = RecoveringStack(tracker)
    for r in (crashed_story("C000000001", stack.started_ts - 600.0)
              + crashed_story("Y000000002", stack.started_ts - DAY)):
        tracker.append(r)
    dock = make_dock(qtbot, tracker, stack, qsettings)
    parents = dock.parents_panel
    stack.send(*parent_story("MINE000001", children=2, filled=1, finished=False))
    qtbot.waitUntil(lambda: "MINE000001" in parents.rows, timeout=3000)
    dock.refresh_now()
    assert parents.interrupted_label.text().startswith("2 interrupted parents")
    assert parents.interrupted_label.toolTip().startswith(
        "Check these in the broker's order book: ")
    stack.report(report(orphan("C000000001", filled=65)))
    qtbot.waitUntil(dock.orphans_panel.isVisible, timeout=2000)
    dock.refresh_now()
    assert parents.interrupted_label.text().startswith("1 interrupted parent: ")
    tip = parents.interrupted_label.toolTip()
    assert tip.startswith("Left open on an earlier day") and "Y000000002" in tip
    assert "C000000001" not in tip and list(parents.rows) == ["MINE000001"]
    # its lot size came from the journal's accepted row? (none in these rows: units)
    assert dock.orphans_panel.rows["C000000001"].title.text().startswith("BUY 260 units")


def test_a_journal_without_a_stack_keeps_the_interrupted_line_and_no_panel(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    with FillQualityTracker("paper", tmp_path) as writer:
        for r in crashed_story("OLD0000001", T0 - DAY) + parent_story("NOW0000001",
                                                                        finished=False):
            writer.append(r)
    dock = ExecutionDock(path, settings=qsettings, interval_ms=20, refresh_ms=20)
    qtbot.addWidget(dock)
    dock.show()
    qtbot.waitUntil(lambda: "NOW0000001" in dock.parents_panel.rows, timeout=3000)
    dock.refresh_now()
    label = dock.parents_panel.interrupted_label
    assert label.text().startswith("1 interrupted parent")
    assert label.toolTip() == "Check these in the broker's order book: OLD0000001"
    assert not dock.orphans_panel.isVisible() and dock.orphans_panel.control is None


def test_fills_of_a_held_parent_move_its_row(qtbot: QtBot, tracker: FillQualityTracker,
                                            qsettings: QSettings) -> None:
    stack = RecoveringStack(tracker)
    dock = make_dock(qtbot, tracker, stack, qsettings)
    stack.report(report(orphan("A000000001", orders=(order("9001", "A00000000100201", 65),))))
    qtbot.waitUntil(dock.orphans_panel.isVisible, timeout=2000)
    stack.send(row("filled", parent_id="A000000001", parent_filled_quantity=65,
                   filled_quantity=65))
    qtbot.waitUntil(lambda: dock.orphans_panel.rows["A000000001"].detail.text()
                    == "A000000001 · filled 65 of 260", timeout=2000)
