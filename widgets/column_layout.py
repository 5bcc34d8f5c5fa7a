"""ColumnLayout: a data table's columns as the trader left them, and the table's common setup.

Both dock tables (orders and events) are plain ``QTableView``\\ s over numpy-backed models whose
columns are described by a title, a typical widest text and whether they start hidden. This
module sets such a table up the same way (whole-row selection, no grid, fixed row height: no
per-row size hints over a million rows) and keeps its column order, widths, hidden columns
and sort in QSettings, with a header menu to show, hide or reset columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QAbstractItemModel, QByteArray, QObject, QPoint, QSettings, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView


class DescribedColumn(Protocol):
    """What a dock table knows of each of its columns."""

    @property
    def title(self) -> str: ...

    @property
    def tooltip(self) -> str: ...

    @property
    def sample(self) -> str:
        """The widest typical text: sets the default width in any font."""
        ...

    @property
    def hidden(self) -> bool: ...

    @property
    def numeric(self) -> bool: ...


class SortableModel(Protocol):
    @property
    def sort_section(self) -> int: ...

    @property
    def sort_order(self) -> Qt.SortOrder: ...

    def sort(self, column: int, order: Qt.SortOrder = ...) -> None: ...


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

    def __init__(self, table: QTableView, model: SortableModel,
                 columns: Sequence[DescribedColumn], settings: QSettings | None, *,
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
