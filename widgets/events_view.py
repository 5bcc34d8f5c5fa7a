"""The Events table: its Qt model over :class:`~.events_model.ChildEventStore`, and the blotter
(the filter bar, the Events tab, CSV export).

:class:`ChildEventTableModel` is built on :class:`~.table_view.NumpyTableModel` (filter and sort
on numpy index arrays). In the usual case (sorted by time, newest first) a batch lands at the top
and is announced with a single ``beginInsertRows``; any other placement is one
``beginInsertRows`` per run of rows landing at the same place (never a layout change, which would
make Qt save the selection cell by cell). Either way a batch costs one repaint, which is what
keeps a burst of rows cheap. History read backwards goes below the rows held, and the oldest
rows the store drops leave the view. Rows are tinted by event; status, side, bucket and the sign
of realized slippage are coloured.

:class:`ChildEventBlotter` puts the table in a tab ("Events") of
:attr:`ChildEventBlotter.tabs`, so a host can put other views of the same rows beside it under
the one filter bar (the dock puts its orders view first); :attr:`ChildEventBlotter.filter_changed`
tells them when the filter changes. The column layout (order, widths, hidden columns, sort) is
kept in QSettings; the header's context menu hides and shows columns. Export writes the visible
rows, in view order, on a worker thread (a day of rows takes seconds to format) and reports with
:attr:`ChildEventBlotter.export_finished`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QObject, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..events import Event, read_event
from .events_model import (
    COLUMNS,
    Appended,
    ChildEventStore,
    ColumnBatch,
    ExportSnapshot,
    write_csv,
)
from .table_model import Column, IntArray, RowFilter
from .table_view import ColumnLayout, NumpyTableModel, set_up_table

ALL = "All"
#: Bumped when COLUMNS changes in a way an old saved header would misplace.
LAYOUT_VERSION = 1


class ChildEventTableModel(NumpyTableModel):
    """Child events, newest first by default, filterable and sortable by any column."""

    #: The set of labels seen in a filterable field grew (symbol/algo/status/mode choices).
    labels_changed = Signal()

    SIGNED = frozenset({"real_slip"})  # realized slippage: a cost red, a saving green

    def __init__(self, store: ChildEventStore | None = None, *,
                 parent: QObject | None = None) -> None:
        store = store if store is not None else ChildEventStore()
        # Room for the whole store on either side of the view: it never needs a bigger buffer.
        super().__init__(store, COLUMNS, sort_key="time", room=store.max_rows, parent=parent)
        self.store = store
        # Store positions in [_shown_from, _shown_upto) have been through the filter; rows
        # prepended (history) or appended (live) since are pending until show_pending().
        self._shown_from = 0
        self._shown_upto = 0
        self._label_counts = self._count_labels()

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

    # ------------------------------------------------------------------ queries
    def position(self, row: int) -> int:
        """Store position of a view row."""
        return int(self._view[row])

    def visible_positions(self) -> IntArray:
        return self._view.copy()

    def export_snapshot(self, columns: list[Column] | None = None) -> ExportSnapshot:
        return self.store.snapshot(self._view, columns if columns is not None else COLUMNS)

    # ------------------------------------------------------------------ internals
    def _refilter(self, flt: RowFilter) -> IntArray:
        self._shown_from, self._shown_upto = 0, len(self.store)
        return self.store.positions(flt)

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
        self._refresh_stale_keys()
        new = self.store.order(col, new, desc)
        new_keys = self.store.sort_key(col, new, desc)
        # Among equal keys, rows keep arrival order (ascending) or its reverse (descending):
        # newer rows go after the old ones ascending, before them descending; history the
        # other way round.
        at = np.searchsorted(self._keys, new_keys, side="left" if desc == newer else "right")
        self._insert_runs(at, new, new_keys)

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

    def _background(self, position: int) -> Any:
        return self.theme.row_tint(self.store.label("event", position))

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


class ChildEventBlotter(QWidget):
    """Filter bar + table of child events + export."""

    export_finished = Signal(str, int)  # path, rows written
    export_failed = Signal(str, str)  # path, reason
    _export_ended = Signal()  # worker thread -> GUI thread
    filter_changed = Signal(object)  # the RowFilter now applied

    def __init__(self, model: ChildEventTableModel, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)

        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.symbol_filter = QLineEdit(self)
        self.symbol_filter.setObjectName("symbol_filter")
        self.symbol_filter.setPlaceholderText("symbol contains…")
        self.symbol_filter.setClearButtonEnabled(True)
        self.symbol_filter.setToolTip("Filter by tradingsymbol (Ctrl+F)")
        self.algo_filter = self._combo("algo_filter", "Filter by execution algorithm")
        self.status_filter = self._combo("status_filter", "Filter by child status")
        self.mode_filter = self._combo("mode_filter", "Filter by paper or live")
        for text, widget in (("Sy&mbol", self.symbol_filter), ("Alg&o", self.algo_filter),
                             ("Stat&us", self.status_filter), ("Mo&de", self.mode_filter)):
            label = QLabel(text, self)
            label.setBuddy(widget)
            bar.addWidget(label)
            bar.addWidget(widget, 2 if widget is self.symbol_filter else 1)
        self.export_button = QPushButton("E&xport CSV…", self)
        self.export_button.setObjectName("export_csv")
        self.export_button.setAutoDefault(False)
        self.export_button.setToolTip("Write the child events the filter shows to a CSV file "
                                      "(Ctrl+Shift+E)")
        self.export_button.clicked.connect(self.choose_export_path)
        bar.addWidget(self.export_button)
        layout.addLayout(bar)

        #: The views under the filter bar: the child-event table is the "Events" tab.
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("blotter_tabs")
        self.tabs.setDocumentMode(True)
        events_page = QWidget(self.tabs)
        events_layout = QVBoxLayout(events_page)
        events_layout.setContentsMargins(0, 0, 0, 0)
        events_layout.setSpacing(3)
        self.table = QTableView(events_page)
        self.table.setObjectName("child_events")
        set_up_table(self.table, model)
        self.columns = ColumnLayout(self.table, model, COLUMNS, settings, prefix="blotter",
                                    version=LAYOUT_VERSION)
        events_layout.addWidget(self.table, 1)

        self.count_label = QLabel(events_page)
        self.count_label.setObjectName("row_count")
        events_layout.addWidget(self.count_label)
        self.tabs.addTab(events_page, "Events")
        self.tabs.setTabToolTip(0, "Every child event as it happened (placed, filled, "
                                   "retry, ...), newest first")
        layout.addWidget(self.tabs, 1)

        self.setTabOrder(self.symbol_filter, self.algo_filter)
        self.setTabOrder(self.algo_filter, self.status_filter)
        self.setTabOrder(self.status_filter, self.mode_filter)
        self.setTabOrder(self.mode_filter, self.export_button)
        self.setTabOrder(self.export_button, self.table)

        find = QAction("Find symbol", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.triggered.connect(self._focus_symbol)
        export = QAction("Export CSV", self)
        export.setShortcut(QKeySequence("Ctrl+Shift+E"))
        export.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        export.triggered.connect(self.choose_export_path)
        self.addActions([find, export])

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self._apply_filter)
        self.symbol_filter.textChanged.connect(self._debounce.start)
        for combo in (self.algo_filter, self.status_filter, self.mode_filter):
            combo.currentIndexChanged.connect(self._apply_filter)
        model.labels_changed.connect(self.refresh_choices)
        model.rowsInserted.connect(self._update_count)
        model.rowsRemoved.connect(self._update_count)
        model.modelReset.connect(self._update_count)
        model.layoutChanged.connect(self._update_count)
        self.refresh_choices()
        self.columns.restore()
        self._update_count()
        self._exporting = False
        self._export_ended.connect(self._export_done)

    # ------------------------------------------------------------------ filters
    def _combo(self, name: str, tooltip: str) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setToolTip(tooltip)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        combo.addItem(ALL)
        return combo

    def refresh_choices(self) -> None:
        """Offer every algo, status and mode seen so far."""
        store = self.model.store
        for combo, name in ((self.algo_filter, "execution_algo"),
                            (self.status_filter, "status"), (self.mode_filter, "mode")):
            wanted = [ALL, *store.labels_seen(name)]
            have = [combo.itemText(i) for i in range(combo.count())]
            if have == wanted:
                continue
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(wanted)
            combo.setCurrentIndex(max(0, combo.findText(current)))
            combo.blockSignals(False)

    def current_filter(self) -> RowFilter:
        def chosen(combo: QComboBox) -> str | None:
            text = combo.currentText()
            return None if text in ("", ALL) else text

        return RowFilter(symbol=self.symbol_filter.text().strip(),
                         algo=chosen(self.algo_filter), status=chosen(self.status_filter),
                         mode=chosen(self.mode_filter),
                         parent_id=self.model.row_filter.parent_id)

    def set_filter(self, flt: RowFilter) -> None:
        """Set the filter widgets (and the model) to ``flt``."""
        self.symbol_filter.blockSignals(True)
        self.symbol_filter.setText(flt.symbol)
        self.symbol_filter.blockSignals(False)
        for combo, value in ((self.algo_filter, flt.algo), (self.status_filter, flt.status),
                             (self.mode_filter, flt.mode)):
            combo.blockSignals(True)
            if value is not None and combo.findText(value) < 0:
                combo.addItem(value)
            combo.setCurrentIndex(max(0, combo.findText(value or ALL)))
            combo.blockSignals(False)
        self.model.set_filter(flt)
        self._update_count()
        self.filter_changed.emit(self.model.row_filter)

    def _apply_filter(self) -> None:
        self._debounce.stop()
        self.model.set_filter(self.current_filter())
        self._update_count()
        self.filter_changed.emit(self.model.row_filter)

    def _focus_symbol(self) -> None:
        self.symbol_filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.symbol_filter.selectAll()

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), len(self.model.store)
        text = f"{shown:,} of {total:,} child events" if shown != total else \
            f"{total:,} child events"
        store = self.model.store
        if store.dropped_total or store.history_skipped:
            text += f" (the oldest {store.dropped_total + store.history_skipped:,} not kept)"
        self.count_label.setText(text)

    # ------------------------------------------------------------------ layout (QSettings)
    def save_layout(self) -> None:
        self.columns.save()

    # ------------------------------------------------------------------ export
    def choose_export_path(self) -> None:
        if self._exporting:  # the shortcut works while the button is disabled
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export visible child events",
                                              "child_events.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the visible rows and visible columns, in view order, on a worker thread.

        One export at a time: while one is being written, another fails (export_failed)."""
        if self._exporting:
            self.export_failed.emit(path, "another export is still being written")
            return
        header = self.table.horizontalHeader()
        columns = [COLUMNS[header.logicalIndex(v)] for v in range(len(COLUMNS))
                   if not header.isSectionHidden(header.logicalIndex(v))]
        snapshot = self.model.export_snapshot(columns)
        self.export_button.setEnabled(False)
        self._exporting = True
        QThreadPool.globalInstance().start(lambda: self._write(path, snapshot))

    def _write(self, path: str, snapshot: ExportSnapshot) -> None:  # worker thread
        try:
            rows = write_csv(path, snapshot)
        except OSError as exc:
            self.export_failed.emit(path, exc.strerror or str(exc))
        else:
            self.export_finished.emit(path, rows)
        finally:
            self._export_ended.emit()

    def _export_done(self) -> None:
        self._exporting = False
        self.export_button.setEnabled(True)
