"""ExecutionDock: live fill-quality telemetry in a QDockWidget the host window docks.

``ExecutionDock(tracker_or_path, stack=None)``:

- with a ``stack`` (an :class:`~imperium_exec.stack.ExecutionStack`), rows come from its signals,
  after the journal's backlog, and the parents panel controls the stack's parents (pause,
  resume, cancel, cancel all);
- with only a tracker or a path, the dock is a viewer of a journal another process writes: it
  tails it incrementally and survives truncation and rotation.

With a stack that checks its journal at start (``recovery_ready``: parents an earlier session
left working, or halted by a lost session and reported after a new login), the orphans panel
lists them above the tiles with Adopt and Cancel (:meth:`ExecutionDock.show_recovery`); nothing
is sent for them until the trader chooses.

The dock owns plain objects that hold the state (:class:`ChildEventStore`,
:class:`ExecutionStats`, :class:`ParentBook`) and thin widgets that show it; updates arrive in
coalesced batches (see :mod:`.feed`) and the tiles, charts and parents redraw at most every
``refresh_ms``. It never blocks the GUI thread on the broker or on more than a bounded read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QByteArray, QEvent, QModelIndex, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ..events import Event
from ..recovery.report import RecoveryReport
from ..telemetry import FillQualityTracker
from .charts import ExecutionCharts
from .events_model import ChildEventStore
from .events_view import ChildEventBlotter, ChildEventTableModel
from .feed import StackRows, TelemetryFeed, journal_mode, journal_path
from .fonts import ensure_fonts
from .orders_model import OrderBook
from .orders_view import ChildOrdersView, ChildOrderTableModel
from .orphans_model import OrphanBook, recovery_control
from .orphans_view import OrphansPanel, confirm_adopt_with_dialog
from .parents_model import ParentBook
from .parents_view import ActiveParentsPanel, Confirm, confirm_with_dialog
from .session_banner import SessionBanner
from .stats import ExecutionStats
from .table_model import RowFilter
from .table_view import ROW_ROLE
from .tca_model import TcaBook
from .tca_view import PICKER_SHORTCUT, TcaPanel
from .theme import Theme
from .tiles import SummaryTiles

SETTINGS_ORGANIZATION = "imperium"
SETTINGS_APPLICATION = "imperium-exec"
SPLITTER_KEY = "dock/splitter_state"
#: While a journal's history loads, the charts are redrawn at most this often (seconds).
CHARTS_WHILE_LOADING_S = 2.0


def default_settings() -> QSettings:
    return QSettings(SETTINGS_ORGANIZATION, SETTINGS_APPLICATION)


class ExecutionDock(QDockWidget):
    """Fill-quality tiles, working parents, the child-event blotter and charts."""

    # --- Signals
    export_finished = Signal(str, int)  # path, rows written
    backlog_loaded = Signal(int)  # rows read from the journal's backlog

    def __init__(self, tracker_or_path: FillQualityTracker | str | os.PathLike[str] | None = None,
                 stack: StackRows | None = None, *, settings: QSettings | None = None,
                 max_rows: int = 1_000_000, interval_ms: int = 75, refresh_ms: int = 200,
                 confirm: Confirm = confirm_with_dialog,
                 confirm_adopt: Confirm = confirm_adopt_with_dialog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ensure_fonts()
        self.stack = stack
        self.path = journal_path(tracker_or_path, stack)
        self.mode = journal_mode(tracker_or_path, stack, self.path)
        self.setObjectName("execution_dock")
        self.setWindowTitle("Execution quality" + (" — LIVE" if self.mode == "live" else
                                                   " — paper" if self.mode == "paper" else ""))
        self.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea |
                             Qt.DockWidgetArea.RightDockWidgetArea |
                             Qt.DockWidgetArea.BottomDockWidgetArea)
        self.settings = settings if settings is not None else default_settings()

        # --- state (plain objects)
        self.store = ChildEventStore(max_rows=max_rows)
        self.model = ChildEventTableModel(self.store, parent=self)
        self.stats = ExecutionStats()
        self.parent_book = ParentBook()
        self.tca_book = TcaBook()
        self.orphan_book = OrphanBook()
        self._orphan_lots: tuple[int | None, ...] = ()

        # --- widgets
        body = self.body = _SteadyBody(self)
        layout = self._body_layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(5)
        header = QHBoxLayout()
        self.live_badge = QLabel("LIVE", body)
        self.live_badge.setObjectName("live_badge")
        self.live_badge.setVisible(self.mode == "live")
        self.live_badge.setStyleSheet("QLabel { background: #d32f2f; color: white; "
                                      "font-weight: bold; padding: 1px 6px; border-radius: 3px; }")
        header.addWidget(self.live_badge)
        self.source_label = QLabel(body)
        self.source_label.setObjectName("source")
        self.source_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        header.addWidget(self.source_label, 1)
        self.loading_bar = QProgressBar(body)
        self.loading_bar.setObjectName("loading")
        self.loading_bar.setRange(0, 1000)
        self.loading_bar.setFormat("loading journal %p%")
        self.loading_bar.setMaximumWidth(180)
        self.loading_bar.setVisible(False)
        header.addWidget(self.loading_bar)
        layout.addLayout(header)
        #: "Re-login needed": the broker refused the session; shown until orders flow again,
        #: with the host's way to log in again beside it (:meth:`set_session_action`).
        self.session = SessionBanner(body)
        self.session_banner, self.session_button = self.session.label, self.session.button
        layout.addWidget(self.session)
        #: Parents a restart check (or a new login) holds: Adopt / Cancel, until they end.
        self.orphans_panel = OrphansPanel(
            self.orphan_book, recovery_control(stack), confirm_adopt=confirm_adopt,
            lot_size=self._lot_size, parent=body)
        layout.addWidget(self.orphans_panel)

        self.tiles = SummaryTiles(body)
        layout.addWidget(self.tiles)
        self.splitter = QSplitter(Qt.Orientation.Vertical, body)
        self.splitter.setChildrenCollapsible(False)
        self.parents_panel = ActiveParentsPanel(self.splitter, confirm=confirm)
        self.parents_panel.setMinimumHeight(90)
        self.blotter = ChildEventBlotter(self.model, self.settings, self.splitter)
        # One row per child order, first; the raw events stay a tab away (same filter bar).
        self.orders = ChildOrdersView(
            ChildOrderTableModel(OrderBook(self.store.tables), parent=self), self.settings)
        self.blotter.tabs.insertTab(0, self.orders, "Orders")
        self.blotter.tabs.setTabToolTip(0, "One row per child order with its latest state")
        self.blotter.tabs.setCurrentIndex(0)
        self.blotter.filter_changed.connect(self.orders.model.set_filter)
        self.charts = ExecutionCharts(self.splitter)
        self.tca = TcaPanel(self.tca_book, self.charts, journal=self.path)
        self.charts.addTab(self.tca, "TCA")
        self.charts.setTabToolTip(self.charts.indexOf(self.tca),
                                  "Implementation shortfall of a finished parent (or today's) "
                                  "in parts, and the markout curve of the fills")
        # From anywhere in the dock's window: the TCA tab, its picker focused.
        to_picker = QShortcut(QKeySequence(PICKER_SHORTCUT), body)
        to_picker.setContext(Qt.ShortcutContext.WindowShortcut)
        to_picker.activated.connect(self.show_tca_picker)
        # Picking an order in the Orders view shows its parent's shortfall in the TCA tab.
        self.orders.table.selectionModel().currentRowChanged.connect(self._order_picked)
        for i, (part, share) in enumerate(((self.parents_panel, 3), (self.blotter, 4),
                                            (self.charts, 3))):
            self.splitter.addWidget(part)
            self.splitter.setStretchFactor(i, share)
        # Proportions (the splitter scales them): in the desk's default window, five working
        # parents show without scrolling (tests/widgets/test_orders_view.py measures it).
        self.splitter.setSizes([300, 420, 280])
        layout.addWidget(self.splitter, 1)
        self.setWidget(body)
        body.steady_hint = self._measure_steady_hint()
        self._restore_splitter()
        self.splitter.splitterMoved.connect(self._save_splitter)
        self.blotter.export_finished.connect(self.export_finished)

        # --- wiring
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(refresh_ms)
        self._refresh_ms = refresh_ms
        self._refresh_timer.timeout.connect(self._refresh_in_two_turns)
        self._charts_drawn_at = float("-inf")
        self._figures_timer = QTimer(self)
        self._figures_timer.setSingleShot(True)
        self._figures_timer.setInterval(0)
        self._figures_timer.timeout.connect(self._refresh_figures)
        self._shown_versions = (-1, -1)
        self._shown_rejected = 0
        # While a child waits on the order book, its "N s" moves on by the stack's clock: the
        # waiting rows' line is redrawn once a second (rows from a file move only with rows).
        self._checking_timer = QTimer(self)
        self._checking_timer.setInterval(1000)
        self._checking_timer.timeout.connect(self._show_checking)
        self._loading_permille = -1
        if stack is not None:
            self.parents_panel.pause_requested.connect(stack.pause)
            self.parents_panel.resume_requested.connect(stack.resume)
            self.parents_panel.cancel_requested.connect(stack.cancel)
            self.parents_panel.cancel_all_requested.connect(stack.cancel_all)
            self.parents_panel.cancel_basket_requested.connect(stack.cancel_basket)
            self.parents_panel.set_stack_attached(True)
        recovery_ready = getattr(stack, "recovery_ready", None)
        if recovery_ready is not None:
            recovery_ready.connect(self.show_recovery)
        self.feed = TelemetryFeed(self.path, stack, interval_ms=interval_ms, parent=self)
        self.feed.events_ready.connect(self._on_events)
        self.feed.history_ready.connect(self._on_history)
        self.feed.restarted.connect(self._on_restarted)
        self.feed.backlog_progress.connect(self._on_progress)
        self.feed.backlog_loaded.connect(self._on_backlog_loaded)
        self.feed.read_failed.connect(self._on_read_failed)
        if self.feed.session_start is not None:
            self.parent_book.set_session_start(self.feed.session_start)
        # Room for the history's orders (~2.5 rows each of ~850 bytes; over-estimating costs
        # nothing: buffer memory is committed only where rows are written).
        self.orders.model.book.reserve(self.feed.backlog_bytes // 1500)
        self.loading_bar.setVisible(self.feed.loading)
        self._describe_source()
        self._apply_theme()
        self.refresh_now()
        if recovery_ready is not None:
            self._take_finished_check(stack)

    # ------------------------------------------------------------------ public
    def show_recovery(self, report: RecoveryReport) -> None:
        """Show a restart check's (or a new login's) report: its held parents in the orphans
        panel (none: the panel stays hidden), no longer counted as working or interrupted.
        The stack's ``recovery_ready`` comes here; a report already shown is ignored."""
        if report is self.orphan_book.report:
            return
        self.orphan_book.show_report(report, self.parent_book.is_finished)
        self.parent_book.set_held(self.orphan_book.held, checked=report.error is None)
        self.orphans_panel.sync()
        self._shown_versions = (-1, -1)
        self.refresh_now()

    def note_session_resumed(self) -> None:
        """The trader logged in again (``stack.resume_session`` succeeded): the re-login
        banner goes (a later lost session shows it again)."""
        self.session.resumed()

    def set_session_action(self, action: QAction | None) -> None:
        """A host's "Log in again…": a button beside the re-login banner, shown with it, that
        triggers ``action`` (None: no button)."""
        self.session.set_action(action)

    def show_tca_picker(self) -> None:
        """The TCA tab to the front, the focus in its parent picker (Ctrl+Shift+T)."""
        self.charts.setCurrentWidget(self.tca)
        self.tca.focus_picker()

    def set_filter(self, flt: RowFilter) -> None:
        self.blotter.set_filter(flt)

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the visible rows to ``path`` (on a worker thread; see export_finished)."""
        self.blotter.export_csv(os.fspath(path))

    def refresh_now(self) -> None:
        """Bring the views, tiles, charts and parents up to date, now."""
        self._refresh_timer.stop()
        self._figures_timer.stop()
        self._refresh_views()
        self._refresh_figures()

    def _refresh_in_two_turns(self) -> None:
        """The timed refresh: the views in this event-loop turn, the figures in the next, so
        input and painting get a turn in between (each half is a shorter stall). While a
        history loads, half as often (each refresh repaints what it moved)."""
        self._refresh_views()
        self._figures_timer.start()
        self._refresh_timer.setInterval(self._refresh_ms * (2 if self.feed.loading else 1))

    def _refresh_views(self) -> None:
        if self.feed.loading and self._loading_permille >= 0:
            self.loading_bar.setVisible(True)
            self.loading_bar.setValue(self._loading_permille)
        self.model.show_pending()
        self.orders.model.show_pending()
        if self.feed.rows_rejected != self._shown_rejected:
            self._shown_rejected = self.feed.rows_rejected
            self._describe_source()

    def _refresh_figures(self) -> None:
        self.tca.refresh()  # draws only when visible and changed
        versions = (self.stats.version, self.parent_book.version)
        if versions == self._shown_versions:
            self._show_checking()
            return
        if versions[0] != self._shown_versions[0]:
            self.tiles.show_figures(self.stats.figures())
            # A chart repaint costs 5-10 ms: while a history loads, one every few seconds.
            now = time.monotonic()
            if not self.feed.loading or now - self._charts_drawn_at >= CHARTS_WHILE_LOADING_S:
                self._charts_drawn_at = now
                self.charts.update_from(self.stats)
        if versions[1] != self._shown_versions[1]:
            if self.orphan_book.held:  # lot sizes come with the journal's accepted rows
                lots = tuple(map(self._lot_size, self.orphan_book.held))
                if lots != self._orphan_lots:
                    self._orphan_lots = lots
                    self.orphans_panel.redraw()
            view = self.parent_book.panel_view(
                self.parents_panel.MAX_ROWS,
                self.controllable if self.stack is not None else None)
            self.parents_panel.sync(view, self.controllable)
        self._shown_versions = versions
        self._show_checking()

    def checking_texts(self) -> dict[str, str]:
        """Parent id -> "checking the order book for tag …, N s" for each parent with a child
        waiting on a reconcile; N by the stack's clock, or without a stack by the newest
        row's time."""
        waits = self.parent_book.reconcile_waits()
        if not waits:
            return {}
        now = self.stack.now() if self.stack is not None else self.parent_book.newest_ts
        return {parent_id: wait.describe(now) for parent_id, wait in waits.items()}

    def _show_checking(self) -> None:
        texts = self.checking_texts()
        if texts != self.parents_panel.checking:
            self.parents_panel.show_checking(texts)
        if texts and self.stack is not None:
            if not self._checking_timer.isActive():
                self._checking_timer.start()
        else:
            self._checking_timer.stop()

    def _order_picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.data(ROW_ROLE) if current.isValid() else None
        if isinstance(row, dict) and row.get("parent_id"):
            self.tca.pick(str(row["parent_id"]))

    def dismiss_basket(self, basket_id: str) -> None:
        """Drop a stopped basket's line (the host completed or unwound it)."""
        self.parent_book.dismiss_basket(basket_id)
        self._refresh_figures()

    def controllable(self, parent_id: str) -> bool:
        """True when this dock's stack runs the parent (so its buttons can act)."""
        return self.stack is not None and parent_id in self.feed.stack_parents

    def save_layout(self) -> None:
        self.blotter.save_layout()
        self.orders.save_layout()
        self._save_splitter()

    def close_feed(self) -> None:
        """Stop reading (the host calls this before shutting the stack down, optionally)."""
        self.feed.stop()

    # ------------------------------------------------------------------ slots
    def _on_events(self, events: list[Event]) -> None:
        batch = self.store.encode(events)
        if batch.size:
            # While history loads, rows reach the view at each refresh (a few times a
            # second) rather than with every batch: fewer, bigger view updates and repaints.
            self.model.append_batch(batch, show=not self.feed.loading)
            self.stats.add(batch)
        self.parent_book.add(events)
        self.tca_book.add(events)
        self.orders.model.apply(events, show=not self.feed.loading)
        if self.orphan_book.add(events):
            self.orphans_panel.sync()
        self.session.note(events)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_history(self, events: list[Event]) -> None:
        """A chunk of the journal's history, older than every row held: it goes below them
        (shown at the next refresh; figures add up whatever the order)."""
        batch = self.store.encode(events)
        if batch.size:
            self.model.prepend_batch(batch, show=False)
            self.stats.add(batch)
        self.orders.model.apply(events, show=False)
        self.parent_book.add(events)
        self.tca_book.add(events)
        self.session.note(events)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_restarted(self) -> None:
        self.session.reset()
        self.model.clear()
        self.orders.model.clear()
        self.stats.reset()
        self.parent_book.reset()
        self.tca_book.reset()
        if self.feed.session_start is not None:
            self.parent_book.set_session_start(self.feed.session_start)
        if self.orphan_book.report is not None:  # still held: not working, not interrupted
            self.parent_book.set_held(self.orphan_book.held,
                                      checked=self.orphan_book.report.error is None)
        self._shown_versions = (-1, -1)
        self.refresh_now()
        self.loading_bar.setVisible(self.feed.loading)

    def _on_progress(self, done: int, total: int) -> None:
        # Shown at the next refresh: QProgressBar.setValue repaints synchronously.
        self._loading_permille = round(1000 * done / total) if total else 1000
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_backlog_loaded(self, rows: int) -> None:
        self.loading_bar.setVisible(False)
        self.backlog_loaded.emit(rows)
        self.refresh_now()
        self.charts.update_from(self.stats)  # the charts held back while it loaded

    def _take_finished_check(self, stack: object) -> None:
        """The stack's restart check may have ended before this dock connected to
        ``recovery_ready`` (a signal emitted then reached nobody): take its report from
        ``stack.recovery()``. A report that read no journal and says why checked nothing
        (``recover=False``): not shown."""
        recovery = getattr(stack, "recovery", None)
        if recovery is None:
            return
        future = recovery()
        if future.done() and future.exception() is None:
            report = cast(RecoveryReport, future.result())
            if not (report.journal is None and report.error is not None):
                self.show_recovery(report)

    def _lot_size(self, parent_id: str) -> int | None:
        progress = self.parent_book.get(parent_id)
        return progress.lot_size if progress is not None else None

    def _on_read_failed(self, reason: str) -> None:
        self.source_label.setText(f"cannot read {reason}")

    # ------------------------------------------------------------------ look and layout
    def _measure_steady_hint(self) -> QSize:
        """What the empty dock needs, and at least room for the Orders view's default
        columns beside a vertical scroll bar (with the frames and margins around them)."""
        table = self.orders.table
        margins = self._body_layout.contentsMargins()
        orders = (self.orders.shown_width()
                  + table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, table)
                  + 2 * table.frameWidth() + margins.left() + margins.right())
        hint = self.body.contents_hint()
        return QSize(max(hint.width(), orders), hint.height())

    def _describe_source(self) -> None:
        name = self.path.name if self.path is not None else "no journal"
        source = "live from the stack, journal " if self.stack is not None else "tailing "
        skipped = self._shown_rejected
        reason = (self.feed.last_rejection or "")[:120]
        self.source_label.setText(source + name + (
            f" · {skipped:,} row{'s' if skipped != 1 else ''} skipped: {reason}"
            if skipped else ""))
        full = str(self.path) if self.path is not None else ""
        home = str(Path.home())
        self.source_label.setToolTip("~" + full[len(home):] if full.startswith(home) else full)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()
        elif event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) \
                and hasattr(self, "body"):
            self.body.steady_hint = self._measure_steady_hint()
            self.body.updateGeometry()

    def _apply_theme(self) -> None:
        theme = Theme.for_palette(self.palette())
        self.model.theme = theme
        self.orders.model.theme = theme
        self.tiles.theme = theme
        self.parents_panel.theme = theme
        self.orphans_panel.set_theme(theme)
        self.charts.apply_theme(theme)
        self.tca.apply_theme(theme)
        self._shown_versions = (-1, -1)
        self.refresh_now()
        self.blotter.table.viewport().update()
        self.orders.table.viewport().update()

    def _restore_splitter(self) -> None:
        state = self.settings.value(SPLITTER_KEY)
        if isinstance(state, QByteArray | bytes):
            self.splitter.restoreState(QByteArray(state))

    def _save_splitter(self) -> None:
        self.settings.setValue(SPLITTER_KEY, self.splitter.saveState())

    def hideEvent(self, event: Any) -> None:
        self.save_layout()
        super().hideEvent(event)


class _SteadyBody(QWidget):
    """The dock's contents, asking for a size fixed when the dock is built (and when its font
    or style changes), never for one the rows drive.

    A QMainWindow sizes its dock areas by their docks' contents' size hints until the trader
    drags the separator, and the contents' hints grow as rows arrive (the filter lists learn
    algorithms and statuses, the tiles' figures and the charts' labels get longer): the dock
    widened seconds after start and took that width from the host's own panels (the desk's
    basket LTP column and confirmation lines were cut). Its minimum still holds."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.steady_hint: QSize | None = None

    def contents_hint(self) -> QSize:
        """The size hint the contents give now."""
        return super().sizeHint()

    def sizeHint(self) -> QSize:
        if self.steady_hint is None:
            return super().sizeHint()
        return self.steady_hint.expandedTo(self.minimumSizeHint())
