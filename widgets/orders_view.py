"""The orders view: one row per child order (an :class:`~.orders_model.OrderBook`), in a table.

:class:`ChildOrderTableModel` is a thin Qt adapter over the book, built on
:class:`~.table_view.NumpyTableModel`: ``_view`` holds the book rows shown, in display order, and
``_keys`` their sort keys. A batch of events updates the book in place; the model then

- inserts new orders at their sorted place (newest first by default: one ``beginInsertRows``
  at the top), with one insertion per run of rows landing together;
- moves rows whose sort key changed (sorted by status, say) and removes rows that no longer
  pass the filter, then reinserts those that still do;
- announces ``dataChanged`` for the changed rows that stayed where they were.

Its cost is the batch, plus numpy passes over the shown rows' index (a copy of 400,000 ints is
a fraction of a millisecond); a batch touching rows all over a sorted view falls back to one
layout change instead of hundreds of insertions.

:class:`ChildOrdersView` is the table with its header menu (show, hide, reset columns), the
column layout kept in QSettings, and a count of orders and open orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QObject, QSettings, QTimer
from PySide6.QtWidgets import (
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..events import Event, Status
from .orders_model import (
    ORDER_COLUMNS,
    OrderBook,
    OrderChanges,
)
from .table_model import IntArray, RowFilter
from .table_view import ColumnLayout, NumpyTableModel, set_up_table

#: Bumped when ORDER_COLUMNS changes in a way an old saved header would misplace.
LAYOUT_VERSION = 1

_ROW_TINTS = {Status.ERROR: "row_bad", Status.REJECTED: "row_bad", Status.UNKNOWN: "row_bad",
              Status.RETRY: "row_warn"}
_EMPTY = np.empty(0, np.int64)


def _runs(positions: IntArray) -> list[tuple[int, int]]:
    """Sorted positions as (first, last) runs of consecutive positions."""
    if not len(positions):
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(positions) - 1]])
    return list(zip(positions[starts].tolist(), positions[ends].tolist(), strict=True))


class ChildOrderTableModel(NumpyTableModel):
    """Child orders, newest first by default, filterable and sortable by any column."""

    #: Above this many separate places touched by a batch, one layout change is cheaper.
    MAX_RUNS = 32

    SIGNED = frozenset({"slip", "exp_bps"})  # slippage and expected cost: a cost red

    def __init__(self, book: OrderBook | None = None, *, parent: QObject | None = None) -> None:
        book = book if book is not None else OrderBook()
        # Room for the book's first million orders on either side of the view: new orders go
        # on top and history below without a copy of the whole.
        super().__init__(book, ORDER_COLUMNS, sort_key="sent", room=OrderBook.INITIAL_ROWS,
                         parent=parent)
        self.book = book
        self._pending: list[OrderChanges] = []  # folded into the book, not yet shown

    # ------------------------------------------------------------------ feeding
    def apply(self, events: Sequence[Event], *, show: bool = True) -> OrderChanges:
        """Fold a batch of events into the book and show what changed.

        ``show=False`` only folds them (a journal's history loading): :meth:`show_pending`
        brings every change since into the view at once, one view update for many batches.
        """
        changes = self.book.apply(events)
        if not changes.empty:
            self._pending.append(changes)
        if show:
            self.show_pending()
        return changes

    def show_pending(self) -> int:
        """Show the changes folded since the last call; returns how many orders they were."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, []
        if len(pending) == 1:
            changes = pending[0]
        else:  # a row added, then changed, in the same span is just added
            added = np.concatenate([c.added for c in pending])
            changed = np.setdiff1d(np.concatenate([c.changed for c in pending]), added)
            changes = OrderChanges(added, changed)
        self._show(changes)
        return len(changes.added) + len(changes.changed)

    def clear(self) -> None:
        self.beginResetModel()
        self._pending = []
        self.book.clear()
        self._set_view(_EMPTY, np.empty(0, np.float64))
        self.endResetModel()

    # ------------------------------------------------------------------ queries
    def book_row(self, position: int) -> int:
        return int(self._view[position])

    def visible_book_rows(self) -> IntArray:
        return self._view.copy()

    # ------------------------------------------------------------------ internals
    def _refilter(self, flt: RowFilter) -> IntArray:
        self._pending = []  # the view is rebuilt from the whole book
        return np.flatnonzero(self.book.matches(flt)).astype(np.int64)

    def _show(self, changes: OrderChanges) -> None:
        book, col, desc = self.book, self.sort_column, self._descending
        self._refresh_stale_keys()
        changed = changes.changed
        leaving, coming = _EMPTY, changes.added[book.matches(self._filter, changes.added)]
        if len(changed):
            mark = np.zeros(len(book), np.bool_)
            mark[changed] = True
            at = np.flatnonzero(mark[self._view])  # where the changed rows are shown
            shown = self._view[at]
            matching = book.matches(self._filter, shown)
            in_place = matching & (book.sort_key(col, shown, desc) == self._keys[at])
            leaving = at[~in_place]
            mark[shown] = False  # changed rows not shown: they may pass the filter now
            hidden = np.flatnonzero(mark).astype(np.int64)
            coming = np.concatenate([coming, shown[matching & ~in_place],
                                     hidden[book.matches(self._filter, hidden)]])
        self._remove(leaving)
        self._insert(coming)
        if len(changed):
            self._announce(changed)

    def _remove(self, positions: IntArray) -> None:
        """Take the rows at ``positions`` (sorted) out of the view."""
        runs = _runs(positions)
        if len(runs) > self.MAX_RUNS:  # one move to the bottom, one removal
            keep = np.ones(len(self._view), np.bool_)
            keep[positions] = False
            self._relayout(np.concatenate([self._view[keep], self._view[~keep]]))
            runs = [(len(self._view) - len(positions), len(self._view) - 1)]
        for first, last in reversed(runs):  # bottom up: the places above stay valid
            self.beginRemoveRows(QModelIndex(), first, last)
            self._view_ends.remove(first, last)
            self._keys_ends.remove(first, last)
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endRemoveRows()

    def _insert(self, rows: IntArray) -> None:
        """Put ``rows`` (not shown) at their sorted places."""
        if not len(rows):
            return
        col, desc = self.sort_column, self._descending
        rows = self.book.order(col, rows, desc)
        keys = self.book.sort_key(col, rows, desc)
        # Among equal keys, newer rows go first when descending (newest first), last otherwise.
        at = np.searchsorted(self._keys, keys, side="left" if desc else "right")
        if len(np.unique(at)) > self.MAX_RUNS:  # one insertion at the bottom, one move into place
            end = len(self._view)
            self.beginInsertRows(QModelIndex(), end, end + len(rows) - 1)
            merged = np.insert(self._view, at, rows)
            self._view_ends.insert(end, rows)
            self._keys_ends.insert(end, keys)
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endInsertRows()
            self._relayout(merged)
            return
        self._insert_runs(at, rows, keys)

    def _announce(self, rows: IntArray) -> None:
        """dataChanged for ``rows`` where they are shown, one signal per run of rows."""
        mark = np.zeros(len(self.book), np.bool_)
        mark[rows] = True
        runs = _runs(np.flatnonzero(mark[self._view]))
        if len(runs) > self.MAX_RUNS:  # the view repaints only what it shows of the span
            runs = [(runs[0][0], runs[-1][1])]
        last_column = len(ORDER_COLUMNS) - 1
        for first, last in runs:
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_column))

    def _background(self, row: int) -> Any:
        tint = _ROW_TINTS.get(self.book.label("status", row))  # type: ignore[call-overload]
        return None if tint is None else getattr(self.theme, tint)

    def _tooltip(self, row: int) -> str:
        r = self.book.row(row)
        child = int(r["child_index"])
        of = f" of {int(r['children'])}" if r["children"] is not None else ""
        parts = [f"parent {r['parent_id']}, child {child}{of}"]
        if r["attempts"] is not None and r["attempts"] > 1:
            parts.append(f"{int(r['attempts'])} placement attempts")
        if r["late_filled"]:
            parts.append(f"{int(r['late_filled']):,} filled by a late order of an earlier "
                         "attempt (a ghost row)")
        if r["error"]:
            parts.append(f"{r['error_bucket'] or 'error'}: {r['error']}")
        if r["expected_cost_bps"] is not None:
            parts.append(f"expected cost {r['expected_cost_bps']:+.1f} bps")
        if r["slippage_bps"] is not None:
            parts.append(f"realized {r['slippage_bps']:+.1f} bps")
        return "\n".join(parts)


class ChildOrdersView(QWidget):
    """The child-orders table, its column layout (kept in QSettings) and a count line."""

    def __init__(self, model: ChildOrderTableModel, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        self.table = QTableView(self)
        self.table.setObjectName("child_orders")
        set_up_table(self.table, model)
        # As the blotter's, with a narrower allowance for the sort arrow: the default columns
        # must fit a 600-px dock (the arrow shows on one column at a time).
        self.columns = ColumnLayout(self.table, model, ORDER_COLUMNS, settings,
                                    prefix="orders", version=LAYOUT_VERSION, arrow_room=20)
        layout.addWidget(self.table, 1)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("order_count")
        layout.addWidget(self.count_label)

        # The count needs a pass over the orders' states: at most a few times a second.
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(250)
        self._count_timer.timeout.connect(self.update_count)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset,
                       model.dataChanged):
            signal.connect(self._count_later)
        self.columns.restore()
        self.update_count()

    def _count_later(self, *_: object) -> None:
        if not self._count_timer.isActive():
            self._count_timer.start()

    def update_count(self) -> None:
        self._count_timer.stop()
        book = self.model.book
        shown, total, working = self.model.rowCount(), len(book), book.open_count()
        text = f"{shown:,} of {total:,} child orders" if shown != total else \
            f"{total:,} child order{'s' if total != 1 else ''}"
        self.count_label.setText(f"{text} · {working:,} open")

    # ------------------------------------------------------------------ layout (QSettings)
    def save_layout(self) -> None:
        self.columns.save()

    def shown_width(self) -> int:
        """Width of the shown columns, pixels (what the default layout must fit)."""
        header = self.table.horizontalHeader()
        return sum(header.sectionSize(i) for i in range(len(ORDER_COLUMNS))
                   if not header.isSectionHidden(i))


__all__ = ["ChildOrderTableModel", "ChildOrdersView"]
