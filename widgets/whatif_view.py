"""WhatIfPanel: the TCA tab's what-if for the picked parent: what each algorithm would have
cost on the market its journal recorded, with its band, beside what it did cost.

**Replay** (it has the focus when the what-if shows: Space) reads the journal and replays
the parent under IMMEDIATE, TWAP, VWAP, POV and IS (:mod:`imperium_exec.whatif`) on a
worker thread: a progress bar counts the algorithms, and the window stays responsive. The
table (a row per algorithm under the realized one; arrows move) shows the cost against the
arrival price in rupees and bps, positive = a cost, the band (2.5th to 97.5th percentile over
seeds) and the fees apart. A parent whose market the journal holds too little of says so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..whatif.command import replay_one
from ..whatif.replay import ALGORITHMS, DEFAULT_SEEDS, ParentWhatIf
from ..whatif.report import bps, money, outcome_cells
from .theme import LIGHT, Theme

COLUMNS = ("cost ₹", "band ₹", "bps (band)", "fees ₹")


class _Bridge(QObject):
    """Carries the worker thread's news to the GUI thread (queued signals)."""

    progressed = Signal(int, int)
    done = Signal(object)  # ParentWhatIf, or a str saying why not


class WhatIfPanel(QWidget):
    """The picked parent under every algorithm, on demand."""

    def __init__(self, journal: Path | None, parent: QWidget | None = None, *,
                 seeds: int = DEFAULT_SEEDS) -> None:
        super().__init__(parent)
        self.journal = journal
        self.seeds = seeds
        self.theme: Theme = LIGHT
        self.parent_id = ""
        self._running = ""
        self._bridge = _Bridge(self)
        self._bridge.progressed.connect(self._progressed)
        self._bridge.done.connect(self._done)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        top = QHBoxLayout()
        self.button = QPushButton("Replay", self)
        self.button.setObjectName("whatif_run")
        self.button.setToolTip("Replays this parent under IMMEDIATE, TWAP, VWAP, POV and IS on "
                               "the market its journal recorded (off the GUI thread)")
        self.button.clicked.connect(self.run)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("whatif_progress")
        self.progress.setRange(0, len(ALGORITHMS))
        self.progress.setFormat("%v of %m algorithms")
        self.progress.hide()
        self.status = QLabel(self)
        self.status.setObjectName("whatif_status")
        self.status.setWordWrap(True)
        top.addWidget(self.button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.status, 3)
        layout.addLayout(top)
        self.table = QTableWidget(1 + len(ALGORITHMS), len(COLUMNS), self)
        self.table.setObjectName("whatif_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setVerticalHeaderLabels(["realized", *ALGORITHMS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.table)
        layout.addStretch(1)
        self._fit_height()
        self.set_parent("")

    def _fit_height(self) -> None:
        """Every row in view: the table exactly as tall as its header and rows."""
        rows = self.table.verticalHeader()
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        height = (self.table.horizontalHeader().sizeHint().height()
                  + rows.defaultSectionSize() * self.table.rowCount()
                  + 2 * self.table.frameWidth())
        self.table.setFixedHeight(height)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_height()

    # ------------------------------------------------------------------ public
    def set_parent(self, parent_id: str) -> None:
        """Show ``parent_id`` (empty: no parent picked): its table is cleared until replayed."""
        if parent_id == self.parent_id and parent_id:
            return
        self.parent_id = parent_id
        self.table.clearContents()
        self.table.show()
        can = bool(parent_id) and self.journal is not None
        self.button.setEnabled(can and not self._running)
        if self.journal is None:
            self.status.setText("What-if: the dock has no journal to replay from.")
        elif not parent_id:
            self.status.setText("What-if: pick a parent to replay it under every algorithm.")
        else:
            self.status.setText(f"What-if for {parent_id}: Replay (Space) replays it under "
                                f"every algorithm on the market its journal recorded.")

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme

    def run(self) -> None:
        """Replay the shown parent on a worker thread (one at a time)."""
        if not self.parent_id or self.journal is None or self._running:
            return
        self._running = self.parent_id
        self.button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(f"Replaying {self.parent_id} ({self.seeds} seeds an algorithm)…")
        path, parent_id, bridge = self.journal, self.parent_id, self._bridge

        def tell(signal: Callable[..., None], *args: object) -> None:
            with contextlib.suppress(RuntimeError):  # the panel closed while it ran
                signal(*args)

        def work() -> None:
            try:
                result: ParentWhatIf | str = replay_one(
                    path, parent_id, seeds=self.seeds,
                    progress=lambda done, total: tell(bridge.progressed.emit, done, total))
            except (OSError, ValueError) as exc:
                result = f"What-if for {parent_id} failed: {exc}"
            tell(bridge.done.emit, result)

        threading.Thread(target=work, name="whatif", daemon=True).start()

    @property
    def running(self) -> bool:
        return bool(self._running)

    # ------------------------------------------------------------------ results
    def _progressed(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _done(self, result: object) -> None:
        ran, self._running = self._running, ""
        self.progress.hide()
        self.button.setEnabled(bool(self.parent_id) and self.journal is not None)
        if ran != self.parent_id:
            return  # the pick moved on while it ran
        if isinstance(result, str):
            self.status.setText(result)
            self.table.hide()  # (nothing to show: the words have the room)
            return
        assert isinstance(result, ParentWhatIf)
        if result.skipped is not None:
            self.status.setText(f"What-if for {ran}: not replayed, too little of its market "
                                f"in the journal: {result.skipped}.")
            self.table.hide()
            return
        self._fill(result)

    def _fill(self, w: ParentWhatIf) -> None:
        r = w.parent
        self.table.show()  # (hidden by an earlier try that failed)
        own = w.own_within_band()
        check = "" if own is None else (
            ", in its own band" if own else ", outside its own band")
        with_fees = w.realized + r.fees
        self.status.setText(
            f"What-if for {r.parent_id} against arrival {r.arrival_price:,.2f} (+ = cost), "
            f"band 2.5–97.5 % of {w.seeds} seeds, fees apart; realized with fees: "
            f"{money(with_fees)} ₹ ({bps(w.bps(with_fees))} bps){check}.")
        self.status.setToolTip(f"{r.side.value} {r.quantity} {r.tradingsymbol} {r.algo}, "
                               f"replayed over its {r.window_s:.0f} s window. Costs count "
                               f"from the arrival; the parent's shortfall in the picker "
                               f"counts from the decision (its delay too). "
                               f"Impact: {w.impact}. Replayed on the paper exchange: a "
                               f"resting child waits in its queue and fills from the "
                               f"market's flow (the journal records no depth: the book's "
                               f"levels are fitted to its children's book walk).")
        self._set_row(0, (money(w.realized), "", bps(w.bps(w.realized)), f"{r.fees:,.0f}"),
                      w.realized)
        for i, algo in enumerate(ALGORITHMS, start=1):
            o = w.outcomes.get(algo)
            if o is None:
                continue
            self._set_row(i, outcome_cells(w, o), o.mean if o.costs else 0.0)
            label = f"{algo} (its own)" if algo == r.algo else algo
            self.table.setVerticalHeaderItem(i, QTableWidgetItem(label))
        self.table.resizeColumnsToContents()

    def _set_row(self, row: int, cells: tuple[str, str, str, str], cost: float) -> None:
        colour = self.theme.cost(round(cost))
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if column in (0, 2) and colour is not None:
                item.setForeground(QColor(colour))
            self.table.setItem(row, column, item)


__all__ = ["WhatIfPanel"]
