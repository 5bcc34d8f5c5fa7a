"""The orders view: one row per child order (an :class:`~.orders_model.OrderBook`), in a table.

:class:`ChildOrderTableModel` is a thin Qt adapter over the book, built like the blotter's
model: ``_view`` holds the book rows shown, in display order, and ``_keys`` their sort keys. A
batch of events updates the book in place; the model then

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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    Qt,
    QTimer,
)
from PySide6.QtWidgets import (
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..events import Event, Status
from .column_layout import ColumnLayout, set_up_table
from .ends import DoubleEnded
from .events_model import RowFilter
from .events_view import RAW_ROLE, ROW_ROLE, column_header, reorder_keeping_selection
from .orders_model import (
    ORDER_COLUMN_INDEX,
    ORDER_COLUMNS,
    IntArray,
    OrderBook,
    OrderChanges,
    OrderColumn,
)
from .theme import LIGHT, Theme

#: Bumped when ORDER_COLUMNS changes in a way an old saved header would misplace.
LAYOUT_VERSION = 1

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_SIGNED = {"slip", "exp_bps"}
_ROW_TINTS = {Status.ERROR: "row_bad", Status.REJECTED: "row_bad", Status.UNKNOWN: "row_bad",
              Status.RETRY: "row_warn"}
AnyIndex = QModelIndex | QPersistentModelIndex
_EMPTY = np.empty(0, np.int64)


def _runs(positions: IntArray) -> list[tuple[int, int]]:
    """Sorted positions as (first, last) runs of consecutive positions."""
    if not len(positions):
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(positions) - 1]])
    return list(zip(positions[starts].tolist(), positions[ends].tolist(), strict=True))


class ChildOrderTableModel(QAbstractTableModel):
    """Child orders, newest first by default, filterable and sortable by any column."""

    #: Above this many separate places touched by a batch, one layout change is cheaper.
    MAX_RUNS = 32

    def __init__(self, book: OrderBook | None = None, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.book = book if book is not None else OrderBook()
        self.theme: Theme = LIGHT
        self._filter = RowFilter()
        self._sort_column = ORDER_COLUMN_INDEX["sent"]
        self._descending = True
        # The shown book rows in display order and their sort keys: views of two double-ended
        # buffers with room for the book's first million orders on either side (new orders go
        # on top and history below without a copy of the whole; see DoubleEnded).
        room = OrderBook.INITIAL_ROWS
        self._view_ends = DoubleEnded(_EMPTY, room)
        self._keys_ends = DoubleEnded(np.empty(0, np.float64), room)
        self._view: IntArray = self._view_ends.array
        self._keys: npt.NDArray[np.float64] = self._keys_ends.array
        self._keys_labels = -1
        self._pending: list[OrderChanges] = []  # folded into the book, not yet shown

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._view)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ORDER_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return column_header(ORDER_COLUMNS, section, orientation, role)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        position, section = index.row(), index.column()
        if not (0 <= position < len(self._view) and 0 <= section < len(ORDER_COLUMNS)):
            return None
        row = int(self._view[position])
        col = ORDER_COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.book.text(col, row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col.numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(col, row)
        if role == Qt.ItemDataRole.BackgroundRole:
            tint = _ROW_TINTS.get(self.book.label("status", row))  # type: ignore[call-overload]
            return None if tint is None else getattr(self.theme, tint)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == RAW_ROLE:
            return self.book.value(col, row)
        if role == ROW_ROLE:
            return self.book.row(row)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(ORDER_COLUMNS):
            return
        self._sort_column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._relayout(self.book.order(self.sort_column, self._view, self._descending))

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

    @property
    def row_filter(self) -> RowFilter:
        return self._filter

    def set_filter(self, flt: RowFilter) -> None:
        if flt == self._filter:
            return
        self.beginResetModel()
        self._filter = flt
        self._pending = []  # the view is rebuilt from the whole book
        rows = np.flatnonzero(self.book.matches(flt)).astype(np.int64)
        view = self.book.order(self.sort_column, rows, self._descending)
        self._set_view(view, self.book.sort_key(self.sort_column, view, self._descending))
        self._keys_labels = self._sort_labels()
        self.endResetModel()

    @property
    def sort_column(self) -> OrderColumn:
        return ORDER_COLUMNS[self._sort_column]

    @property
    def sort_section(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    # ------------------------------------------------------------------ queries
    def book_row(self, position: int) -> int:
        return int(self._view[position])

    def row_dict(self, position: int) -> dict[str, Any]:
        return self.book.row(self.book_row(position))

    def visible_rows(self) -> list[dict[str, Any]]:
        """Every shown order as a dict, in display order (tests, small exports)."""
        return [self.book.row(int(r)) for r in self._view]

    def visible_book_rows(self) -> IntArray:
        return self._view.copy()

    # ------------------------------------------------------------------ internals
    def _show(self, changes: OrderChanges) -> None:
        book, col, desc = self.book, self.sort_column, self._descending
        if self._keys_labels != (labels := self._sort_labels()):
            # A new label shifted the alphabetical ranks: the order stands, the keys are stale.
            self._keys[:] = book.sort_key(col, self._view, desc)
            self._keys_labels = labels
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
        places, starts = np.unique(at, return_index=True)
        if len(places) > self.MAX_RUNS:  # one insertion at the bottom, one move into place
            end = len(self._view)
            self.beginInsertRows(QModelIndex(), end, end + len(rows) - 1)
            merged = np.insert(self._view, at, rows)
            self._view_ends.insert(end, rows)
            self._keys_ends.insert(end, keys)
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endInsertRows()
            self._relayout(merged)
            return
        ends = np.append(starts[1:], len(rows))
        for place, start, stop in zip(places[::-1].tolist(), starts[::-1].tolist(),
                                      ends[::-1].tolist(), strict=True):
            self.beginInsertRows(QModelIndex(), place, place + stop - start - 1)
            self._view_ends.insert(place, rows[start:stop])
            self._keys_ends.insert(place, keys[start:stop])
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endInsertRows()

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

    def _sort_labels(self) -> int:
        col = self.sort_column
        return len(self.book.tables[col.field].labels) if col.field in self.book.tables else -1

    def _set_view(self, view: IntArray, keys: npt.NDArray[np.float64]) -> None:
        self._view_ends.reset(view)
        self._keys_ends.reset(keys)
        self._view, self._keys = self._view_ends.array, self._keys_ends.array

    def _relayout(self, view: IntArray) -> None:
        """Replace the view with a reordering of it, keeping selections."""
        def install() -> None:
            self._set_view(view, self.book.sort_key(self.sort_column, view, self._descending))
            self._keys_labels = self._sort_labels()

        reorder_keeping_selection(self, self._view, view, install)

    def _foreground(self, col: OrderColumn, row: int) -> Any:
        book, theme = self.book, self.theme
        if col.key == "status":
            return theme.status(book.label("status", row))
        if col.key == "side":
            return theme.side(book.label("side", row))
        if col.key == "bucket":
            return theme.bucket(book.label("error_bucket", row))
        if col.key in _SIGNED:
            value = book.number(col.field, row)
            return None if math.isnan(value) else theme.cost(value)
        return None

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
