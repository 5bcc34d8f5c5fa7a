"""ChildEventTableModel: the blotter's Qt model, a thin adapter over :class:`ChildEventStore`.

Filtering and sorting happen here on numpy index arrays (the store explains why there is no
``QSortFilterProxyModel``): ``_view`` holds the store positions of the visible rows in display
order and ``_keys`` their sort keys, so a new batch is merged with one ``searchsorted``. In the
usual case (sorted by time, newest first) a batch lands at the top and is announced with a single
``beginInsertRows``; any other placement is one ``beginInsertRows`` per run of rows landing at the
same place (never a layout change, which would make Qt save the selection cell by cell). Either
way a batch costs one repaint, which is what keeps a burst of rows cheap.

Roles: Display, alignment, foreground (status, side, bucket, slippage sign), background (row
tint by event), tooltips, plus :data:`RAW_ROLE` (the raw value: float or label) and
:data:`ROW_ROLE` (the row's stored fields as a dict).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from ..events import Event, read_event
from .column_layout import DescribedColumn
from .ends import DoubleEnded
from .events_model import (
    COLUMN_INDEX,
    COLUMNS,
    Appended,
    ChildEventStore,
    Column,
    ColumnBatch,
    ExportSnapshot,
    IntArray,
    Kind,
    RowFilter,
)
from .theme import LIGHT, Theme

RAW_ROLE = int(Qt.ItemDataRole.UserRole) + 1
ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 2

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_COLOURED_LABELS = {"status", "side", "bucket"}
_SIGNED = {"real_slip"}

AnyIndex = QModelIndex | QPersistentModelIndex
#: The layout signals' overload that carries a hint (PySide6 emits the bare one otherwise).
_LAYOUT_SIGNATURE = ("QList<QPersistentModelIndex>", "QAbstractItemModel::LayoutChangeHint")


def column_header(columns: Sequence[DescribedColumn], section: int,
                  orientation: Qt.Orientation, role: int) -> Any:
    """``headerData`` for a table whose columns describe themselves."""
    if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(columns):
        return None
    col = columns[section]
    if role == Qt.ItemDataRole.DisplayRole:
        return col.title
    if role == Qt.ItemDataRole.ToolTipRole:
        return col.tooltip
    if role == Qt.ItemDataRole.TextAlignmentRole:
        return _RIGHT if col.numeric else _LEFT
    return None


def reorder_keeping_selection(model: QAbstractItemModel, old_view: IntArray,
                              new_view: IntArray, install: Callable[[], None]) -> None:
    """A re-sort of a numpy-index view: ``install`` puts ``new_view`` (a reordering of
    ``old_view``) in place between the layout signals, and the selection and current index
    move with their rows."""
    hint = QAbstractItemModel.LayoutChangeHint.VerticalSortHint
    about: Any = model.layoutAboutToBeChanged  # the stubs do not type overload indexing
    changed: Any = model.layoutChanged
    about[_LAYOUT_SIGNATURE].emit([], hint)
    persistent = model.persistentIndexList()
    install()
    if persistent:
        where = np.full(int(new_view.max()) + 1 if len(new_view) else 0, -1, np.int64)
        where[new_view] = np.arange(len(new_view))
        moved = []
        for idx in persistent:
            old = int(old_view[idx.row()]) if idx.row() < len(old_view) else -1
            row = int(where[old]) if 0 <= old < len(where) else -1
            moved.append(model.index(row, idx.column()) if row >= 0 else QModelIndex())
        model.changePersistentIndexList(persistent, moved)
    changed[_LAYOUT_SIGNATURE].emit([], hint)


class ChildEventTableModel(QAbstractTableModel):
    """Child events, newest first by default, filterable and sortable by any column."""

    #: The set of labels seen in a filterable field grew (symbol/algo/status/mode choices).
    labels_changed = Signal()

    def __init__(self, store: ChildEventStore | None = None, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else ChildEventStore()
        self.theme: Theme = LIGHT
        self._filter = RowFilter()
        self._sort_column = COLUMN_INDEX["time"]
        self._descending = True
        # The visible rows' store positions in display order, and their sort keys: views of
        # two double-ended buffers (see DoubleEnded), replaced as a whole only by _set_view.
        room = self.store.max_rows
        self._view_ends = DoubleEnded(np.empty(0, np.int64), room)
        self._keys_ends = DoubleEnded(np.empty(0, np.float64), room)
        self._view: IntArray = self._view_ends.array
        self._keys: npt.NDArray[np.float64] = self._keys_ends.array
        self._keys_labels = -1  # label count of the sort column when _keys were computed
        # Store positions in [_shown_from, _shown_upto) have been through the filter; rows
        # prepended (history) or appended (live) since are pending until show_pending().
        self._shown_from = 0
        self._shown_upto = 0
        self._label_counts = self._count_labels()

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._view)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return column_header(COLUMNS, section, orientation, role)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, section = index.row(), index.column()
        if not (0 <= row < len(self._view) and 0 <= section < len(COLUMNS)):
            return None
        position = int(self._view[row])
        col = COLUMNS[section]
        store = self.store
        if role == Qt.ItemDataRole.DisplayRole:
            return store.text(col, position)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col.numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(col, position)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self.theme.row_tint(store.label("event", position))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(position)
        if role == RAW_ROLE:
            return store.value(col, position)
        if role == ROW_ROLE:
            return store.row(position)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort_column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        view = self.store.order(self.sort_column, self._view, self._descending)
        self._relayout(view, self.store.sort_key(self.sort_column, view, self._descending))

    # ------------------------------------------------------------------ feeding
    def append_batch(self, batch: ColumnBatch, *, show: bool = True) -> Appended:
        """Append encoded child events; the view gets them at their sorted place.

        ``show=False`` only stores them (a backlog loading fast): :meth:`show_pending` puts
        everything stored so far into the view at once, one view update for many batches.
        """
        appended = self.store.append(batch)
        if appended.dropped:
            self._drop_oldest(appended.dropped)
            self._shown_from = max(0, self._shown_from - appended.dropped)
            self._shown_upto = max(0, self._shown_upto - appended.dropped)
        if show:
            self.show_pending()
        self._note_labels()
        return appended

    def prepend_batch(self, batch: ColumnBatch, *, show: bool = True) -> int:
        """Put encoded history rows (older than every row held) before the others; returns
        how many the store kept. Shown like :meth:`append_batch`."""
        added = self.store.prepend(batch)
        if added:
            self._view += added  # every position held moved up; the rows keep their places
            self._shown_from += added
            self._shown_upto += added
        if show:
            self.show_pending()
        self._note_labels()
        return added

    def show_pending(self) -> int:
        """Merge stored rows not yet in the view; returns how many became visible."""
        shown = 0
        stop = len(self.store)
        if self._shown_upto < stop:
            new = self.store.positions(self._filter, self._shown_upto, stop)
            self._shown_upto = stop
            if len(new):
                self._merge(new, newer=True)
            shown += len(new)
        if self._shown_from > 0:
            old = self.store.positions(self._filter, 0, self._shown_from)
            self._shown_from = 0
            if len(old):
                self._merge(old, newer=False)
            shown += len(old)
        return shown

    @property
    def pending_rows(self) -> int:
        """Rows stored but not yet in the view."""
        return len(self.store) - self._shown_upto + self._shown_from

    def append_events(self, events: Sequence[Event]) -> Appended:
        """Convenience for tests and small feeds: encode and append events."""
        return self.append_batch(self.store.encode(events))

    def append_rows(self, rows: Sequence[dict[str, Any]]) -> Appended:
        """The same for journal rows (read through the event schema)."""
        return self.append_events([read_event(r) for r in rows])

    def clear(self) -> None:
        self.beginResetModel()
        self.store.clear()
        self._set_view(np.empty(0, np.int64), np.empty(0, np.float64))
        self._shown_from = self._shown_upto = 0
        self.endResetModel()

    # ------------------------------------------------------------------ filter and sort state
    @property
    def row_filter(self) -> RowFilter:
        return self._filter

    def set_filter(self, flt: RowFilter) -> None:
        if flt == self._filter:
            return
        self.beginResetModel()
        self._filter = flt
        self._shown_from, self._shown_upto = 0, len(self.store)
        view = self.store.order(self.sort_column, self.store.positions(flt), self._descending)
        self._set_view(view, self.store.sort_key(self.sort_column, view, self._descending))
        self._keys_labels = self._sort_labels()
        self.endResetModel()

    @property
    def sort_column(self) -> Column:
        return COLUMNS[self._sort_column]

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    @property
    def sort_section(self) -> int:
        return self._sort_column

    # ------------------------------------------------------------------ queries
    def position(self, row: int) -> int:
        """Store position of a view row."""
        return int(self._view[row])

    def row_dict(self, row: int) -> dict[str, Any]:
        return self.store.row(self.position(row))

    def visible_rows(self) -> list[dict[str, Any]]:
        """Every visible row as a dict, in display order (tests, small exports)."""
        return [self.store.row(int(p)) for p in self._view]

    def visible_positions(self) -> IntArray:
        return self._view.copy()

    def export_snapshot(self, columns: list[Column] | None = None) -> ExportSnapshot:
        return self.store.snapshot(self._view, columns if columns is not None else COLUMNS)

    # ------------------------------------------------------------------ internals
    def _count_labels(self) -> tuple[int, ...]:
        tables = self.store.tables
        return tuple(len(tables[name].labels) for name in
                     ("tradingsymbol", "execution_algo", "status", "mode"))

    def _note_labels(self) -> None:
        if self._label_counts != (counts := self._count_labels()):
            self._label_counts = counts
            self.labels_changed.emit()

    def _merge(self, new: IntArray, *, newer: bool) -> None:
        """Insert store positions into the view at their sorted places. ``newer``: the
        positions are newer than every row in the view (else older: history)."""
        col, desc = self.sort_column, self._descending
        if self._keys_labels != (labels := self._sort_labels()):
            # A new label shifted the alphabetical ranks: the visible rows keep their order
            # (ranks of the old labels stay in the same order), only their keys are stale.
            self._set_view(self._view, self.store.sort_key(col, self._view, desc))
            self._keys_labels = labels
        new = self.store.order(col, new, desc)
        new_keys = self.store.sort_key(col, new, desc)
        # Among equal keys, rows keep arrival order (ascending) or its reverse (descending):
        # newer rows go after the old ones ascending, before them descending; history the
        # other way round.
        at = np.searchsorted(self._keys, new_keys, side="left" if desc == newer else "right")
        # One insertion per run of rows landing at the same place, bottom up so the places
        # above stay valid: Qt moves persistent indexes (the selection) itself, in C++.
        places, starts = np.unique(at, return_index=True)
        ends = np.append(starts[1:], len(new))
        for place, start, end in zip(places[::-1].tolist(), starts[::-1].tolist(),
                                     ends[::-1].tolist(), strict=True):
            self.beginInsertRows(QModelIndex(), place, place + end - start - 1)
            self._view_ends.insert(place, new[start:end])
            self._keys_ends.insert(place, new_keys[start:end])
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endInsertRows()

    def _sort_labels(self) -> int:
        """How many labels the sort column's table holds (-1 for a numeric sort)."""
        col = self.sort_column
        return len(self.store.tables[col.field].labels) if col.kind is Kind.LABEL else -1

    def _relayout(self, view: IntArray, keys: np.ndarray[Any, Any]) -> None:
        """Replace the view with a reordering of it (a sort), keeping selections."""
        def install() -> None:
            self._set_view(view, keys)
            self._keys_labels = self._sort_labels()

        reorder_keeping_selection(self, self._view, view, install)

    def _set_view(self, view: IntArray, keys: npt.NDArray[np.float64]) -> None:
        self._view_ends.reset(view)
        self._keys_ends.reset(keys)
        self._view, self._keys = self._view_ends.array, self._keys_ends.array

    def _drop_oldest(self, dropped: int) -> None:
        """The store shifted its positions down by ``dropped``: remove those rows."""
        keep = self._view >= dropped
        gone = np.flatnonzero(~keep)
        if len(gone) == 0:
            self._view -= dropped
            return
        first, last = int(gone[0]), int(gone[-1])
        if last - first + 1 == len(gone) and (first == 0 or last == len(self._view) - 1):
            # One block at an end: the usual time-sorted case. The ends move; nothing copied.
            self.beginRemoveRows(QModelIndex(), first, last)
            self._view_ends.remove_end(first == 0, len(gone))
            self._keys_ends.remove_end(first == 0, len(gone))
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self._view -= dropped
            self.endRemoveRows()
        elif last - first + 1 == len(gone):
            self.beginRemoveRows(QModelIndex(), first, last)
            self._set_view(self._view[keep] - dropped, self._keys[keep])
            self.endRemoveRows()
        else:
            self.beginResetModel()
            self._set_view(self._view[keep] - dropped, self._keys[keep])
            self.endResetModel()

    def _foreground(self, col: Column, position: int) -> Any:
        store, theme = self.store, self.theme
        if col.key in _COLOURED_LABELS:
            label = store.label(col.field, position)
            if col.key == "status":
                return theme.status(label)
            if col.key == "side":
                return theme.side(label)
            return theme.bucket(label)
        if col.key in _SIGNED:
            value = store.number(col.field, position)
            return None if math.isnan(value) else theme.cost(value)
        return None

    def _tooltip(self, position: int) -> str:
        row = self.store.row(position)
        parts = [f"parent {row['parent_id']}"]
        if row["child_index"] is not None:
            parts[0] += f", child {int(row['child_index'])}"
        if row["error"]:
            parts.append(f"{row['error_bucket'] or 'error'}: {row['error']}")
        if row["expected_cost_bps"] is not None:
            parts.append(f"expected cost {row['expected_cost_bps']:+.1f} bps")
        if row["realized_slippage_bps"] is not None:
            parts.append(f"realized {row['realized_slippage_bps']:+.1f} bps")
        return "\n".join(parts)
