"""The blotter's store and table model, tested without a view."""

from __future__ import annotations

import csv
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dock_support import events, parent_story, row
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from imperium_exec.events import FIELD_TYPES, ROW_FIELDS
from imperium_exec.widgets import RAW_ROLE, ROW_ROLE, ChildEventStore, ChildEventTableModel
from imperium_exec.widgets.events_model import (
    COLUMN_INDEX,
    COLUMNS,
    LABEL_FIELDS,
    NUMBER_FIELDS,
    column,
    write_csv,
)
from imperium_exec.widgets.table_model import DoubleEnded, RowFilter
from imperium_exec.widgets.theme import DARK, LIGHT

REQUIRED_TITLES = ["Time", "Symbol", "Algo", "Child", "Qty", "Arrival", "Limit", "Exp slip",
                   "Impact", "Real slip", "Route", "Queue", "Latency ms", "Status", "Bucket",
                   "Att"]


def col(key: str) -> int:
    return COLUMN_INDEX[key]


def cells(model: ChildEventTableModel, key: str,
          role: int = Qt.ItemDataRole.DisplayRole) -> list[Any]:
    return [model.index(r, col(key)).data(role) for r in range(model.rowCount())]


def test_the_store_keeps_numbers_as_numbers_and_labels_as_labels_as_the_schema_types_them(
        ) -> None:
    assert all(FIELD_TYPES[name] in (int, float) for name in NUMBER_FIELDS)
    assert all(FIELD_TYPES[name] in (str,) or issubclass(FIELD_TYPES[name], StrEnum)
               for name in LABEL_FIELDS)


def test_the_blotter_shows_the_required_columns_in_order_and_only_schema_fields() -> None:
    titles = [c.title for c in COLUMNS]
    assert [t for t in titles if t in REQUIRED_TITLES] == REQUIRED_TITLES
    assert {c.field for c in COLUMNS} <= set(ROW_FIELDS)


def test_only_child_events_become_rows_newest_first(qtmodeltester: ModelTester) -> None:
    model = ChildEventTableModel()
    qtmodeltester.check(model)
    model.append_rows(parent_story("P1", children=2, filled=1))
    # accepted and finished are parent events: placed, filled, placed remain
    assert model.rowCount() == 3
    assert cells(model, "event") == ["placed", "filled", "placed"]
    assert cells(model, "child") == ["2/2", "1/2", "1/2"]
    qtmodeltester.check(model)


def test_cells_are_formatted_and_raw_values_are_available() -> None:
    model = ChildEventTableModel()
    model.append_rows([row("filled", quantity=1755, arrival_price=1234.5, limit_price=None,
                           realized_slippage=-0.05, realized_slippage_bps=-4.0,
                           latency_ms=12.345, filled_quantity=1755, fill_price=1234.45)])
    shown = {c.key: model.index(0, i).data() for i, c in enumerate(COLUMNS)}
    assert shown["qty"] == "1,755"
    assert shown["arrival"] == "1,234.50"
    assert shown["limit"] == ""  # a market child has no limit
    assert shown["real_slip"] == "-0.050"
    assert shown["latency"] == "12.3"
    assert shown["time"].count(":") == 2 and "." in shown["time"]
    assert model.index(0, col("qty")).data(RAW_ROLE) == 1755.0
    assert math.isnan(model.index(0, col("limit")).data(RAW_ROLE))
    assert model.index(0, col("status")).data(RAW_ROLE) == "filled"
    as_dict = model.index(0, 0).data(ROW_ROLE)
    assert as_dict["tradingsymbol"] == "NIFTY26D0126000CE" and as_dict["limit_price"] is None
    numeric = model.index(0, col("qty")).data(Qt.ItemDataRole.TextAlignmentRole)
    assert numeric & Qt.AlignmentFlag.AlignRight


def test_the_quote_a_child_was_priced_from_is_shown_with_its_age() -> None:
    model = ChildEventTableModel()
    model.append_rows([row("placed", quote_source="stream", quote_age_ms=412.6),
                       row("placed", quote_source="ticket", quote_age_ms=None)])
    assert cells(model, "quote") == ["ticket", "stream"]  # newest first
    assert cells(model, "quote_age") == ["", "412.6"]
    assert COLUMNS[col("quote")].hidden and COLUMNS[col("quote_age")].hidden  # on request


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_colour_roles_follow_status_side_bucket_and_slippage_sign(theme: Any) -> None:
    model = ChildEventTableModel()
    model.theme = theme
    model.append_rows([
        row("error", status="error", error_bucket="risk", error="Insufficient funds",
            side="SELL"),
        row("filled", realized_slippage=0.2),
        row("retry", error_bucket="throttle", error="Too many requests"),
    ])
    fg, bg = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole
    retry, filled, error = 0, 1, 2  # newest first
    assert model.index(error, col("status")).data(fg) == theme.bad
    assert model.index(error, col("bucket")).data(fg) == theme.bad
    assert model.index(error, col("side")).data(fg) == theme.sell
    assert model.index(error, 0).data(bg) == theme.row_bad
    assert model.index(filled, col("status")).data(fg) == theme.good
    assert model.index(filled, col("real_slip")).data(fg) == theme.bad  # a cost
    assert model.index(retry, col("bucket")).data(fg) == theme.warn
    assert model.index(retry, 0).data(bg) == theme.row_warn
    tooltip = model.index(error, col("bucket")).data(Qt.ItemDataRole.ToolTipRole)
    assert "risk: Insufficient funds" in tooltip


def test_sort_by_any_column_keeps_blanks_last_both_ways(qtmodeltester: ModelTester) -> None:
    model = ChildEventTableModel()
    model.append_rows([row("placed", latency_ms=v) for v in (30.0, None, 10.0, 20.0)])
    model.sort(col("latency"), Qt.SortOrder.AscendingOrder)
    assert cells(model, "latency") == ["10.0", "20.0", "30.0", ""]
    model.sort(col("latency"), Qt.SortOrder.DescendingOrder)
    assert cells(model, "latency") == ["30.0", "20.0", "10.0", ""]
    model.sort(col("status"), Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(model)


def test_new_rows_merge_into_the_current_sort_order() -> None:
    model = ChildEventTableModel()
    model.append_rows([row("placed", latency_ms=v) for v in (10.0, 30.0)])
    model.sort(col("latency"), Qt.SortOrder.AscendingOrder)
    inserted: list[tuple[int, int]] = []
    layouts: list[bool] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.layoutChanged.connect(lambda: layouts.append(True))
    model.append_rows([row("placed", latency_ms=40.0), row("placed", latency_ms=50.0)])
    assert inserted == [(2, 3)] and not layouts  # both after the old rows: one insert
    model.append_rows([row("placed", latency_ms=20.0), row("placed", latency_ms=5.0)])
    assert inserted[1:] == [(1, 1), (0, 0)] and not layouts  # scattered: a run each, bottom up
    assert cells(model, "latency") == ["5.0", "10.0", "20.0", "30.0", "40.0", "50.0"]


def test_a_batch_in_time_order_is_one_insert_at_the_top() -> None:
    model = ChildEventTableModel()
    model.append_rows([row("placed", child_index=1)])
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.append_rows([row("placed", child_index=i) for i in (2, 3, 4)])
    assert inserted == [(0, 2)]
    assert cells(model, "child") == ["4/4", "3/4", "2/4", "1/4"]


def test_sorting_keeps_the_selected_row_selected() -> None:
    model = ChildEventTableModel()
    model.append_rows([row("placed", latency_ms=v, child_index=i)
                       for i, v in enumerate((30.0, 10.0, 20.0), start=1)])
    selected = QPersistentModelIndex(model.index(0, col("child")))  # child 3 (newest)
    assert selected.data() == "3/4"
    model.sort(col("latency"), Qt.SortOrder.AscendingOrder)
    assert selected.row() == 1 and selected.data() == "3/4"


def test_filter_by_symbol_algo_status_and_mode(qtmodeltester: ModelTester) -> None:
    model = ChildEventTableModel()
    model.append_rows(parent_story("P1", symbol="NIFTY26D0126000CE", algo="TWAP")
                      + parent_story("P2", symbol="NIFTY26D0125900PE", algo="VWAP",
                                     mode="live", filled=2))
    total = model.rowCount()
    model.set_filter(RowFilter(symbol="25900pe"))
    assert set(cells(model, "symbol")) == {"NIFTY26D0125900PE"}
    model.set_filter(RowFilter(algo="TWAP"))
    assert set(cells(model, "algo")) == {"TWAP"}
    model.set_filter(RowFilter(status="filled"))
    assert set(cells(model, "status")) == {"filled"} and model.rowCount() == 6
    model.set_filter(RowFilter(mode="live", status="placed"))
    assert model.rowCount() == 4
    model.set_filter(RowFilter(algo="POV"))
    assert model.rowCount() == 0
    # rows arriving while a filter is on are filtered too
    model.set_filter(RowFilter(symbol="26000"))
    model.append_rows(parent_story("P3", symbol="NIFTY26D0126000CE")
                      + parent_story("P4", symbol="NIFTY26D0126100CE"))
    assert set(cells(model, "symbol")) == {"NIFTY26D0126000CE"}
    model.set_filter(RowFilter())
    assert model.rowCount() == total + 16
    qtmodeltester.check(model)


def test_labels_changed_when_a_new_algo_or_status_appears(qtbot: QtBot) -> None:
    model = ChildEventTableModel()
    with qtbot.waitSignal(model.labels_changed, timeout=100):
        model.append_rows([row("placed")])
    with qtbot.assertNotEmitted(model.labels_changed):
        model.append_rows([row("placed")])
    assert model.store.labels_seen("execution_algo") == ["TWAP"]


def test_the_store_keeps_max_rows_and_drops_the_oldest_in_blocks() -> None:
    store = ChildEventStore(max_rows=100)
    model = ChildEventTableModel(store)
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    for i in range(12):
        model.append_rows([row("placed", child_index=10 * i + k) for k in range(10)])
    assert len(store) <= 100 and store.dropped_total == 120 - len(store)
    assert removed  # the oldest left the view in blocks at the bottom
    children = [int(store.number("child_index", p)) for p in model.visible_positions()]
    assert children[0] == 119 and children == sorted(children, reverse=True)
    assert model.rowCount() == len(store)


def test_a_huge_batch_keeps_only_its_newest_rows() -> None:
    store = ChildEventStore(max_rows=10)
    store.extend(events([row("placed", child_index=i) for i in range(25)]))
    assert len(store) == 10
    assert [int(store.number("child_index", p)) for p in range(10)] == list(range(15, 25))


def test_a_sparse_row_shows_blanks_where_it_has_no_fields() -> None:
    store = ChildEventStore()
    store.extend(events([{"v": 1, "event": "placed", "parent_id": "X", "ts": 1.0}]))
    assert store.text(column("symbol"), 0) == "" and store.label("parent_id", 0) == "X"
    assert math.isnan(store.number("quantity", 0))


def test_csv_export_writes_the_visible_rows_in_view_order(tmp_path: Path) -> None:
    model = ChildEventTableModel()
    model.append_rows(parent_story("P1", children=3, filled=1))
    model.set_filter(RowFilter(status="placed"))
    columns = [COLUMNS[col(k)] for k in ("time", "symbol", "child", "qty", "latency", "limit")]
    path = tmp_path / "out.csv"
    assert write_csv(path, model.export_snapshot(columns)) == 3
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["Time", "Symbol", "Child", "Qty", "Latency ms", "Limit"]
    assert [line[2] for line in lines[1:]] == ["3/3", "2/3", "1/3"]
    assert lines[1][0].startswith("2026-11-24T") and lines[1][0].endswith("+05:30")
    assert lines[1][3] == "65" and float(lines[1][4]) == 23.0 and lines[1][5] == "100.05"


def test_clear_empties_the_model(qtmodeltester: ModelTester) -> None:
    model = ChildEventTableModel()
    model.append_rows(parent_story("P1"))
    model.clear()
    assert model.rowCount() == 0 and len(model.store) == 0
    assert model.data(QModelIndex()) is None
    qtmodeltester.check(model)


def test_a_batch_sorted_by_a_label_is_inserted_in_runs_and_keeps_the_selection(
        qtbot: QtBot) -> None:
    from PySide6.QtCore import QItemSelectionModel

    model = ChildEventTableModel()
    ModelTester(qtbot).check(model)
    symbols = ["NIFTY_A", "NIFTY_B", "NIFTY_C"]
    model.append_rows([row("placed", tradingsymbol=symbols[i % 3], child_index=i)
                       for i in range(30)])
    model.sort(col("symbol"), Qt.SortOrder.AscendingOrder)
    selection = QItemSelectionModel(model)
    selection.select(model.index(0, 0), QItemSelectionModel.SelectionFlag.Select |
                     QItemSelectionModel.SelectionFlag.Rows)
    chosen = model.row_dict(0)
    layouts: list[object] = []
    inserts: list[tuple[int, int]] = []
    model.layoutChanged.connect(lambda *a: layouts.append(a))
    model.rowsInserted.connect(lambda _parent, first, last: inserts.append((first, last)))
    model.append_rows([row("placed", tradingsymbol=s, child_index=100 + i)
                       for i, s in enumerate(symbols * 2)])
    assert layouts == []  # never a layout change for an append (Qt would save cell by cell)
    assert inserts == [(30, 31), (20, 21), (10, 11)]  # one run per symbol, bottom up
    shown = cells(model, "symbol")
    assert shown == sorted(shown)
    rows = selection.selectedRows()
    assert len(rows) == 1 and model.row_dict(rows[0].row()) == chosen


def test_a_new_label_keeps_a_label_sort_right(qtbot: QtBot) -> None:
    model = ChildEventTableModel()
    ModelTester(qtbot).check(model)
    model.append_rows([row("placed", tradingsymbol="NIFTY_B"),
                       row("placed", tradingsymbol="NIFTY_C")])
    model.sort(col("symbol"), Qt.SortOrder.AscendingOrder)
    model.append_rows([row("placed", tradingsymbol="NIFTY_A")])  # ranks of B and C shift
    model.append_rows([row("placed", tradingsymbol="NIFTY_B")])
    assert cells(model, "symbol") == ["NIFTY A", "NIFTY B", "NIFTY B", "NIFTY C"]
    model.sort(col("symbol"), Qt.SortOrder.DescendingOrder)
    model.append_rows([row("placed", tradingsymbol="NIFTY_0")])
    model.append_rows([row("placed", tradingsymbol="NIFTY_C")])
    assert cells(model, "symbol") == ["NIFTY C", "NIFTY C", "NIFTY B", "NIFTY B", "NIFTY A",
                                      "NIFTY 0"]


@settings(max_examples=80, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=25),
       max_rows=st.integers(1, 60))
def test_history_before_and_live_rows_after_keep_the_store_in_time_order(
        steps: list[tuple[bool, int]], max_rows: int) -> None:
    """Live rows append (newer than all held), history prepends (older than all held): the
    store holds them oldest first, never more than max_rows, history never pushing live rows
    out (the oldest rows of a history chunk that does not fit are left out) and never taken
    once a row was dropped or left out (no gap in time)."""
    store = ChildEventStore(max_rows=max_rows)
    held: list[int] = []
    newest, oldest = 0, 0  # ids: live rows count up from 1, history down from 0
    lost = False  # a row was dropped or skipped: older history would leave a gap behind it
    for is_history, size in steps:
        if is_history:
            chunk = list(range(oldest - size + 1, oldest + 1))
            oldest -= size
            room = 0 if lost else max_rows - len(held)
            fits = chunk[len(chunk) - min(size, room):] if size and room else []
            lost = lost or len(fits) < size
            assert store.prepend(store.encode(events(
                [row("placed", quantity=n) for n in chunk]))) == len(fits)
            held = fits + held
        else:
            chunk = list(range(newest + 1, newest + size + 1))
            newest += size
            store.append(store.encode(events([row("placed", quantity=n) for n in chunk])))
            take = min(size, max_rows)
            if len(held) + take > max_rows:  # the oldest go, a tenth more than needed
                held = held[min(len(held), len(held) + take - max_rows + max_rows // 10):]
                lost = True
            lost = lost or take < size
            held += chunk[size - take:]
        assert len(store) <= max_rows
        assert [int(store.number("quantity", p)) for p in range(len(store))] == held


def test_history_goes_below_a_newest_first_view_in_one_insert(
        qtmodeltester: ModelTester) -> None:
    older = [row("placed", child_index=i) for i in (1, 2)]
    newer = [row("placed", child_index=i) for i in (3, 4)]
    live = [row("placed", child_index=5)]
    model = ChildEventTableModel()
    model.prepend_batch(model.store.encode(events(newer)))  # history, newest chunk first
    selected = QPersistentModelIndex(model.index(0, col("child")))
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.prepend_batch(model.store.encode(events(older)))
    model.append_rows(live)
    assert inserted == [(2, 3), (0, 0)]  # history at the bottom, the live row on top
    assert cells(model, "child") == ["5/4", "4/4", "3/4", "2/4", "1/4"]
    assert selected.row() == 1 and selected.data() == "4/4"
    assert [int(model.store.number("child_index", p)) for p in range(5)] == [1, 2, 3, 4, 5]
    qtmodeltester.check(model)


def test_history_loaded_while_hidden_shows_in_one_merge_with_live_rows() -> None:
    first, third, fourth = (row("placed", child_index=i) for i in (1, 3, 4))
    model = ChildEventTableModel()
    model.append_rows([third])
    model.prepend_batch(model.store.encode(events([first])), show=False)
    model.append_batch(model.store.encode(events([fourth])), show=False)
    assert model.pending_rows == 2 and model.rowCount() == 1
    assert model.show_pending() == 2
    assert cells(model, "child") == ["4/4", "3/4", "1/4"]


@settings(max_examples=80, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["top", "bottom", "middle", "remove"]),
                                st.integers(1, 1500), st.floats(0, 1)), max_size=14),
       room=st.sampled_from([0, 100, 5000]))
def test_the_views_double_ended_buffer_inserts_and_removes_anywhere_like_a_list(
        steps: list[tuple[str, int, float]], room: int) -> None:
    """Live rows land on top, history at the bottom, any other sort anywhere; rows leave
    from anywhere: the array is always what list insertion and deletion give."""
    ends = DoubleEnded(np.empty(0, np.int64), room)
    expected: list[int] = []
    counter = 0
    for what, count, where in steps:
        if what == "remove":
            if not expected:
                continue
            first = int(where * (len(expected) - 1))
            last = min(len(expected) - 1, first + count // 10)
            ends.remove(first, last)
            del expected[first:last + 1]
        else:
            values = list(range(counter, counter + count))
            counter += count
            place = {"top": 0, "bottom": len(expected),
                     "middle": int(where * len(expected))}[what]
            ends.insert(place, np.array(values, np.int64))
            expected[place:place] = values
        assert ends.array.tolist() == expected


@settings(max_examples=40, deadline=None)
@given(inserts=st.lists(st.tuples(st.booleans(), st.integers(1, 400)), max_size=40))
def test_a_view_with_room_for_the_whole_store_never_takes_a_new_buffer(
        inserts: list[tuple[bool, int]]) -> None:
    """Given room for the store's max_rows on each side, live rows on top and history below
    never outgrow the buffer while the view stays within max_rows (the oldest dropped as the
    store drops them): no allocation, and no copy of the whole, inside a refresh."""
    max_rows = 2000
    ends = DoubleEnded(np.empty(0, np.int64), max_rows)
    buffer = ends._buffer
    expected: list[int] = []
    for n, (top, count) in enumerate(inserts):
        values = [n] * count
        ends.insert(0 if top else len(expected), np.array(values, np.int64))
        expected[0 if top else len(expected):0 if top else len(expected)] = values
        if len(expected) > max_rows:  # the store dropped its oldest (the bottom)
            gone = len(expected) - max_rows
            ends.remove_end(False, gone)
            expected = expected[:max_rows]
        assert ends.array.tolist() == expected
    assert ends._buffer is buffer


def test_history_older_than_a_dropped_row_is_not_taken() -> None:
    """Live rows pushed the oldest history out: older history would sit behind a gap."""
    store = ChildEventStore(max_rows=10)
    store.prepend(store.encode(events([row("placed", quantity=n) for n in range(91, 101)])))
    store.append(store.encode(events([row("placed", quantity=101)])))  # drops 91 and 92
    assert store.prepend(store.encode(events([row("placed", quantity=n)
                                              for n in range(81, 91)]))) == 0
    assert [int(store.number("quantity", p)) for p in range(len(store))] == list(range(93, 102))
    assert store.history_skipped == 10
