"""ChildEventBlotter: the filter bar, the child-event table and CSV export.

The table sits in a tab ("Events") of :attr:`ChildEventBlotter.tabs`, so a host can put other
views of the same rows beside it under the one filter bar (the dock puts its orders view first);
:attr:`ChildEventBlotter.filter_changed` tells them when the filter changes.

The column layout (order, widths, hidden columns, sort) is kept in QSettings; the header's
context menu hides and shows columns. Export writes the visible rows, in view order, on a
worker thread (a day of rows takes seconds to format) and reports with :attr:`export_finished`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
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

from .column_layout import ColumnLayout, set_up_table
from .events_model import COLUMNS, ExportSnapshot, RowFilter, write_csv
from .events_view import ChildEventTableModel

ALL = "All"
#: Bumped when COLUMNS changes in a way an old saved header would misplace.
LAYOUT_VERSION = 1


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
