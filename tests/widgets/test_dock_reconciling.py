"""A child waiting on the order book shows in the dock: "checking the order book for tag …, N s"
on its parent's row while it waits, gone when the child's next row arrives; the blotter tints
the reconciling row as it tints a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dock_support import T0, StackDouble, events, parent_story, row, write_rows
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets import ChildEventTableModel, ExecutionDock
from imperium_exec.widgets.events_model import COLUMN_INDEX
from imperium_exec.widgets.parents_model import ParentBook
from imperium_exec.widgets.theme import DARK, LIGHT

TAG = "TWAP1000201"  # child 2, attempt 1


def waiting_story(parent_id: str = "TWAP1", ts: float = T0) -> list[dict[str, Any]]:
    """A TWAP whose first child filled and whose second child's attempt is ambiguous: the
    engine is looking its tag up (the last row)."""
    story = parent_story(parent_id, children=4, filled=1, finished=False)[:3]
    assert [r["event"] for r in story] == ["accepted", "placed", "filled"]
    for i, r in enumerate(story):
        r["ts"] = ts - 10 + i
    return [*story, child_row("reconciling", parent_id, ts)]


def child_row(event: str, parent_id: str, ts: float, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        parent_id=parent_id, child_index=2, child_id=f"{parent_id}-2", tag=TAG, ts=ts,
        parent_quantity=260, parent_filled_quantity=65, error_bucket="transient",
        ambiguous=True, error="BrokerTimeout: read timed out",
        message=f"checking the order book for tag {TAG} (up to 10 s) before re-sending")
    if event != "reconciling":
        base["message"] = None
    base.update(fields)
    return row(event, **base)


# ---------------------------------------------------------------------------- the book

def test_a_wait_starts_with_its_reconciling_row_and_ends_with_the_attempts_next_row() -> None:
    book = ParentBook()
    book.add(events(waiting_story(ts=T0)))
    [(parent_id, wait)] = book.reconcile_waits().items()
    assert (parent_id, wait.child_id, wait.tag, wait.since_ts) == ("TWAP1", "TWAP1-2", TAG, T0)
    assert wait.describe(T0 + 3.4) == f"checking the order book for tag {TAG}, 3 s"
    book.add(events([row("placed", parent_id="TWAP1", child_index=1, ts=T0 + 1)]))
    assert book.reconcile_waits()  # another child's row: still waiting
    version = book.version
    book.add(events([child_row("reconciled", "TWAP1", T0 + 2, status="placed")]))
    assert book.reconcile_waits() == {} and book.reconciling == {}
    assert book.version > version


@pytest.mark.parametrize("ending", ["reconciled", "retry", "error"])
def test_rows_out_of_order_never_leave_a_wait_that_has_ended(ending: str) -> None:
    """A backlog read while the stack's signals bring newer rows: the attempt's next row may
    arrive before its reconciling row."""
    book = ParentBook()
    story = waiting_story(ts=T0)
    status = {"reconciled": "placed", "retry": "retry", "error": "error"}[ending]
    book.add(events([*story[:-1], child_row(ending, "TWAP1", T0 + 10, status=status)]))
    book.add(events(story[-1:]))
    assert book.reconcile_waits() == {}
    assert [p.parent_id for p in book.active()] == ["TWAP1"]


def test_a_parent_shows_its_longest_waiting_child_and_its_finish_ends_every_wait() -> None:
    book = ParentBook()
    book.add(events(waiting_story(ts=T0)))
    book.add(events([child_row("reconciling", "TWAP1", T0 + 5, child_index=3,
                               child_id="TWAP1-3", tag="TWAP1000301")]))
    assert book.reconcile_waits()["TWAP1"].tag == TAG
    book.add(events([row("finished", parent_id="TWAP1", status="failed", ts=T0 + 6)]))
    assert book.reconcile_waits() == {} and book.reconciling == {}


# ---------------------------------------------------------------------------- the dock

def make_dock(qtbot: QtBot, source: FillQualityTracker | Path, stack: object,
              settings: QSettings) -> ExecutionDock:
    dock = ExecutionDock(source, stack, settings=settings, interval_ms=20, refresh_ms=20)
    qtbot.addWidget(dock)
    dock.resize(600, 900)
    dock.show()
    qtbot.waitExposed(dock)
    return dock


def test_the_parents_row_says_it_is_checking_the_order_book_and_for_how_long(
        qtbot: QtBot, tracker: FillQualityTracker, qsettings: QSettings) -> None:
    stack = StackDouble(tracker)
    stack.clock_ts = T0
    dock = make_dock(qtbot, tracker, stack, qsettings)
    stack.send(*waiting_story(ts=T0))
    qtbot.waitUntil(lambda: "TWAP1" in dock.parents_panel.rows, timeout=3000)
    line = dock.parents_panel.rows["TWAP1"].checking
    qtbot.waitUntil(line.isVisible, timeout=3000)
    assert line.text() == f"checking the order book for tag {TAG}, 0 s"
    assert line.styleSheet() == f"color: {LIGHT.warn.name()};"
    # The seconds move on by the stack's clock, without any new row: the dock redraws the line
    # once a second while a child waits (its timer's tick, fired here rather than waited for).
    assert dock._checking_timer.isActive()
    stack.clock_ts = T0 + 3.2
    dock._checking_timer.timeout.emit()
    assert line.text() == f"checking the order book for tag {TAG}, 3 s"
    stack.send(child_row("reconciled", "TWAP1", T0 + 3.5, status="placed"),
               row("placed", parent_id="TWAP1", child_index=2, tag=TAG, ts=T0 + 3.5,
                   parent_filled_quantity=65))
    qtbot.waitUntil(lambda: not line.isVisible(), timeout=3000)
    assert not dock._checking_timer.isActive() and dock.parents_panel.checking == {}
    assert "TWAP1" in dock.parents_panel.rows  # still working: only the line went


def test_a_journal_viewer_counts_the_wait_by_the_newest_row(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    write_rows(path, waiting_story(ts=T0))
    dock = make_dock(qtbot, path, None, qsettings)
    qtbot.waitUntil(lambda: "TWAP1" in dock.parents_panel.rows, timeout=3000)
    line = dock.parents_panel.rows["TWAP1"].checking
    qtbot.waitUntil(line.isVisible, timeout=3000)
    assert line.text() == f"checking the order book for tag {TAG}, 0 s"
    assert not dock._checking_timer.isActive()  # no stack: nothing moves it but rows
    write_rows(path, [row("accepted", parent_id="OTHER", ts=T0 + 4.0)])  # another parent
    qtbot.waitUntil(lambda: line.text().endswith(", 4 s"), timeout=3000)
    write_rows(path, [child_row("retry", "TWAP1", T0 + 10.0, status="retry",
                                message="retrying in 0.25 s")])
    qtbot.waitUntil(lambda: not line.isVisible(), timeout=3000)


def test_the_blotter_tints_a_reconciling_row_as_a_retry_and_colours_its_status() -> None:
    model = ChildEventTableModel()
    model.append_rows([child_row("reconciling", "TWAP1", T0)])
    status = model.index(0, COLUMN_INDEX["status"])
    event = model.index(0, COLUMN_INDEX["event"])
    assert model.data(event) == "reconciling" and model.data(status) == "reconciling"
    for theme in (LIGHT, DARK):
        model.theme = theme
        assert model.data(status, Qt.ItemDataRole.BackgroundRole) == theme.row_warn
        assert model.data(status, Qt.ItemDataRole.ForegroundRole) == theme.warn
