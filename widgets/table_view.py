"""The dock tables' Qt half, shared by Events and Orders: the numpy-backed table model base, and
the table's setup and column layout.

:class:`NumpyTableModel` is a thin Qt adapter over a table's Qt-free rows
(:class:`~.table_model.TableRows`). Filtering and sorting happen on numpy index arrays, not in
a ``QSortFilterProxyModel`` (which would call back into Python once per row): ``_view`` holds
the rows shown, in display order, and ``_keys`` their sort keys, so new rows find their place
with one ``searchsorted`` and go in with one ``beginInsertRows`` per run of rows landing
together. :mod:`.events_view` and :mod:`.orders_view` build on it.

Roles: Display, alignment, foreground (status, side, bucket, sign of the signed columns),
background (row tint), tooltips, plus :data:`RAW_ROLE` (the raw value: float or label) and
:data:`ROW_ROLE` (the row's fields as a dict).

:func:`set_up_table` and :class:`ColumnLayout` set a ``QTableView`` over such a model up the
same way for both tables (whole-row selection, no grid, fixed row height: no per-row size
hints over a million rows) and keep its column order, widths, hidden columns and sort in
QSettings, with a header menu to show, hide or reset columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSettings,
    Qt,
    QTimer,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView

from .table_model import (
    Column,
    DoubleEnded,
    FloatArray,
    IntArray,
    Kind,
    RowFilter,
    TableRows,
)
from .theme import LIGHT, Theme

RAW_ROLE = int(Qt.ItemDataRole.UserRole) + 1
ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 2

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

AnyIndex = QModelIndex | QPersistentModelIndex
#: The layout signals' overload that carries a hint (PySide6 emits the bare one otherwise).
_LAYOUT_SIGNATURE = ("QList<QPersistentModelIndex>", "QAbstractItemModel::LayoutChangeHint")


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


class NumpyTableModel(QAbstractTableModel):
    """Rows of a Qt-free table shown through an index view, newest first by default,
    filterable and sortable by any column.

    A subclass feeds the view (inserting, removing, announcing rows) and says how a row is
    tinted (:meth:`_background`) and what its tooltip is (:meth:`_tooltip`)."""

    #: Column keys whose number is coloured by its sign (a cost red, a saving green).
    SIGNED: frozenset[str] = frozenset()

    def __init__(self, rows: TableRows, columns: tuple[Column, ...], *, sort_key: str,
                 room: int, parent: QObject | None = None) -> None:
        """``sort_key``: the column sorted on at first (descending); ``room``: rows of room
        the view keeps at each end (see :class:`~.table_model.DoubleEnded`)."""
        super().__init__(parent)
        self.columns = columns
        self.theme: Theme = LIGHT
        self._rows = rows
        self._filter = RowFilter()
        self._sort_column = next(i for i, c in enumerate(columns) if c.key == sort_key)
        self._descending = True
        # The shown rows in display order and their sort keys: views of two double-ended
        # buffers, replaced as a whole only by _set_view.
        self._view_ends = DoubleEnded(np.empty(0, np.int64), room)
        self._keys_ends = DoubleEnded(np.empty(0, np.float64), room)
        self._view: IntArray = self._view_ends.array
        self._keys: FloatArray = self._keys_ends.array
        self._keys_labels = -1  # label count of the sort column when _keys were computed

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._view)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tooltip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col.numeric else _LEFT
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        shown, section = index.row(), index.column()
        if not (0 <= shown < len(self._view) and 0 <= section < len(self.columns)):
            return None
        row = int(self._view[shown])
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows.text(col, row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col.numeric else _LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(col, row)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._background(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == RAW_ROLE:
            return self._rows.value(col, row)
        if role == ROW_ROLE:
            return self._rows.row(row)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self._sort_column = column
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._relayout(self._rows.order(self.sort_column, self._view, self._descending))

    # ------------------------------------------------------------------ filter and sort state
    @property
    def row_filter(self) -> RowFilter:
        return self._filter

    def set_filter(self, flt: RowFilter) -> None:
        if flt == self._filter:
            return
        self.beginResetModel()
        self._filter = flt
        col, desc = self.sort_column, self._descending
        view = self._rows.order(col, self._refilter(flt), desc)
        self._set_view(view, self._rows.sort_key(col, view, desc))
        self._keys_labels = self._sort_labels()
        self.endResetModel()

    @property
    def sort_column(self) -> Column:
        return self.columns[self._sort_column]

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    @property
    def sort_section(self) -> int:
        return self._sort_column

    # ------------------------------------------------------------------ queries
    def row_dict(self, shown: int) -> dict[str, Any]:
        """The fields of the row shown at ``shown``."""
        return self._rows.row(int(self._view[shown]))

    def visible_rows(self) -> list[dict[str, Any]]:
        """Every shown row as a dict, in display order (tests, small exports)."""
        return [self._rows.row(int(r)) for r in self._view]

    # ------------------------------------------------------------------ for subclasses
    def _refilter(self, flt: RowFilter) -> IntArray:
        """Every row passing ``flt``, in any order: the view is rebuilt from them, so
        nothing is pending after."""
        raise NotImplementedError

    def _background(self, row: int) -> Any:
        return None

    def _tooltip(self, row: int) -> str:
        return ""

    def _foreground(self, col: Column, row: int) -> Any:
        rows, theme = self._rows, self.theme
        if col.key == "status":
            return theme.status(rows.label(col.field, row))
        if col.key == "side":
            return theme.side(rows.label(col.field, row))
        if col.key == "bucket":
            return theme.bucket(rows.label(col.field, row))
        if col.key in self.SIGNED:
            value = rows.number(col.field, row)
            return None if math.isnan(value) else theme.cost(value)
        return None

    def _sort_labels(self) -> int:
        """How many labels the sort column's table holds (-1 for a numeric sort)."""
        col = self.sort_column
        return len(self._rows.tables[col.field].labels) if col.kind is Kind.LABEL else -1

    def _refresh_stale_keys(self) -> None:
        """After a new label shifted the alphabetical ranks, the shown rows keep their order
        (the old labels' ranks keep theirs): only their keys are recomputed."""
        if self._keys_labels != (labels := self._sort_labels()):
            self._keys[:] = self._rows.sort_key(self.sort_column, self._view, self._descending)
            self._keys_labels = labels

    def _insert_runs(self, at: IntArray, rows: IntArray, keys: FloatArray) -> None:
        """Insert ``rows`` (display order) with their ``keys`` before the view places ``at``
        (ascending): one insertion per run of rows landing at the same place, bottom up so
        the places above stay valid. Qt moves persistent indexes (the selection) itself."""
        places, starts = np.unique(at, return_index=True)
        ends = np.append(starts[1:], len(rows))
        for place, start, end in zip(places[::-1].tolist(), starts[::-1].tolist(),
                                     ends[::-1].tolist(), strict=True):
            self.beginInsertRows(QModelIndex(), place, place + end - start - 1)
            self._view_ends.insert(place, rows[start:end])
            self._keys_ends.insert(place, keys[start:end])
            self._view, self._keys = self._view_ends.array, self._keys_ends.array
            self.endInsertRows()

    def _set_view(self, view: IntArray, keys: FloatArray) -> None:
        self._view_ends.reset(view)
        self._keys_ends.reset(keys)
        self._view, self._keys = self._view_ends.array, self._keys_ends.array

    def _relayout(self, view: IntArray) -> None:
        """Replace the view with a reordering of it (a sort), keeping selections."""
        def install() -> None:
            self._set_view(view, self._rows.sort_key(self.sort_column, view, self._descending))
            self._keys_labels = self._sort_labels()

        reorder_keeping_selection(self, self._view, view, install)


# ---------------------------------------------------------------------------- the table view

def set_up_table(table: QTableView, model: QAbstractItemModel) -> None:
    """Whole-row extended selection, per-pixel scrolling, no grid, fixed row height, movable
    columns with a context menu on the header."""
    table.setModel(model)
    table.setSortingEnabled(True)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    table.setWordWrap(False)
    table.setShowGrid(False)
    vertical = table.verticalHeader()
    vertical.setVisible(False)
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row size hints
    vertical.setDefaultSectionSize(table.fontMetrics().height() + 6)
    header = table.horizontalHeader()
    header.setSectionsMovable(True)
    header.setHighlightSections(False)
    header.setStretchLastSection(False)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)


class ColumnLayout(QObject):
    """A table's column layout kept under ``<prefix>/header_state`` in QSettings (saved a
    moment after each change), with a header menu listing the columns and "Reset columns".

    ``arrow_room`` is what a title needs beside it for the sort arrow: default widths are the
    wider of the column's sample text and its title, in whatever font the host uses (never
    ``resizeColumnsToContents``: it measures every row).
    """

    def __init__(self, table: QTableView, model: NumpyTableModel,
                 columns: Sequence[Column], settings: QSettings | None, *,
                 prefix: str, version: int = 1, arrow_room: int = 26) -> None:
        super().__init__(table)
        self.table, self.model, self.columns = table, model, columns
        self.settings = settings
        self._header_key, self._version_key = f"{prefix}/header_state", f"{prefix}/layout_version"
        self._version = version
        self._arrow_room = arrow_room
        header = table.horizontalHeader()
        header.customContextMenuRequested.connect(self._menu)
        self.apply_default()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(300)
        self._save_timer.timeout.connect(self.save)
        for signal in (header.sectionMoved, header.sectionResized, header.sortIndicatorChanged):
            signal.connect(self._save_timer.start)

    def apply_default(self) -> None:
        header = self.table.horizontalHeader()
        cells, titles = self.table.fontMetrics(), header.fontMetrics()
        for i, col in enumerate(self.columns):
            width = max(cells.horizontalAdvance(col.sample) + 14,
                        titles.horizontalAdvance(col.title) + self._arrow_room)
            header.resizeSection(i, width)
            header.setSectionHidden(i, col.hidden)
        header.setSortIndicator(self.model.sort_section, self.model.sort_order)

    def save(self) -> None:
        self._save_timer.stop()
        if self.settings is None:
            return
        self.settings.setValue(self._header_key, self.table.horizontalHeader().saveState())
        self.settings.setValue(self._version_key, self._version)
        self.settings.sync()

    def restore(self) -> bool:
        """Put back the saved layout (and its sort); False when none of this version."""
        if self.settings is None or \
                self.settings.value(self._version_key) not in (self._version, str(self._version)):
            return False
        state = self.settings.value(self._header_key)
        if not isinstance(state, QByteArray | bytes):
            return False
        header = self.table.horizontalHeader()
        ok = header.restoreState(QByteArray(state))
        if ok:
            self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        return bool(ok)

    def set_column_visible(self, section: int, visible: bool) -> None:
        self.table.horizontalHeader().setSectionHidden(section, not visible)
        self._save_timer.start()

    def reset(self) -> None:
        """Columns back in their order, default widths and visibility; saved."""
        header = self.table.horizontalHeader()
        for visual in range(len(self.columns)):
            if header.logicalIndex(visual) != visual:
                header.moveSection(header.visualIndex(visual), visual)
        self.apply_default()
        self.model.sort(self.model.sort_section, self.model.sort_order)
        self.save()

    def _menu(self, point: QPoint) -> None:
        header = self.table.horizontalHeader()
        menu = QMenu(self.table)
        for i, col in enumerate(self.columns):
            action = menu.addAction(col.title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(i))
            action.toggled.connect(lambda shown, i=i: self.set_column_visible(i, shown))
        menu.addSeparator()
        menu.addAction("Reset columns", self.reset)
        menu.popup(header.mapToGlobal(point))


__all__ = ["RAW_ROLE", "ROW_ROLE", "ColumnLayout", "NumpyTableModel", "set_up_table"]
