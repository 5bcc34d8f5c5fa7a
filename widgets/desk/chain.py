"""The option chain: a model of the latest snapshot, a poller that fetches it off the GUI thread,
and the chooser of its underlying and expiry.

Calls ``broker.option_chain`` on a one-thread pool (a broker call may block: the real Kite
client does HTTP), never on the GUI thread; snapshots come back as a queued signal. A slow
broker only makes the chain refresh less often: a fetch still in flight skips the next tick.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ...brokers.base import OptionChain, OptionChainSource
from ..theme import LIGHT, Theme
from .tickets import ChainSnapshot, OptionType, fetch_snapshot

AnyIndex = QModelIndex | QPersistentModelIndex

#: (title, side, quote field); side None is the strike column.
CHAIN_COLUMNS: tuple[tuple[str, OptionType | None, str], ...] = (
    ("CE vol", "CE", "volume"), ("CE bid", "CE", "bid"), ("CE ask", "CE", "ask"),
    ("CE LTP", "CE", "ltp"), ("Strike", None, "strike"), ("PE LTP", "PE", "ltp"),
    ("PE bid", "PE", "bid"), ("PE ask", "PE", "ask"), ("PE vol", "PE", "volume"),
)
STRIKE_COLUMN = 4


class OptionChainModel(QAbstractTableModel):
    """Calls on the left, puts on the right, strikes in the middle; ATM and ITM shaded."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.snapshot: ChainSnapshot | None = None
        self.theme: Theme = LIGHT
        self._previous_ltp: dict[str, float] = {}
        self._ltp_move: dict[str, int] = {}

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self.snapshot is None:
            return 0
        return len(self.snapshot.view.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CHAIN_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(CHAIN_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return CHAIN_COLUMNS[section][0]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def strike_at(self, row: int) -> float:
        assert self.snapshot is not None
        return float(self.snapshot.view.rows[row].strike)

    def side_at(self, column: int) -> OptionType | None:
        return CHAIN_COLUMNS[column][1]

    def row_of(self, strike: float) -> int:
        if self.snapshot is not None:
            for i, row in enumerate(self.snapshot.view.rows):
                if abs(row.strike - strike) < 1e-6:
                    return i
        return -1

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.snapshot is None:
            return None
        view = self.snapshot.view
        row = view.rows[index.row()]
        _, side, name = CHAIN_COLUMNS[index.column()]
        quote = row.call if side == "CE" else row.put if side == "PE" else None
        if role == Qt.ItemDataRole.DisplayRole:
            if quote is None:
                return f"{row.strike:,.0f}"
            value = getattr(quote, name)
            if value is None:
                return "–"
            return f"{value:,}" if name == "volume" else f"{value:,.2f}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter if quote is None else
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and (quote is None or name == "ltp"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole:
            if abs(row.strike - view.atm_strike) < 1e-6:
                return self._tint(self.theme.info, 60)
            in_the_money = (side == "CE" and row.strike < view.spot) or \
                (side == "PE" and row.strike > view.spot)
            return self._tint(self.theme.warn, 22) if in_the_money else None
        if role == Qt.ItemDataRole.ForegroundRole and quote is not None and name == "ltp":
            move = self._ltp_move.get(quote.tradingsymbol, 0)
            return self.theme.good if move > 0 else self.theme.bad if move < 0 else None
        if role == Qt.ItemDataRole.ToolTipRole and quote is not None:
            return (f"{quote.tradingsymbol}\nbid {quote.bid} × {quote.bid_quantity:,}  ·  "
                    f"ask {quote.ask} × {quote.ask_quantity:,}\nclick: quick order · "
                    "double-click: add to the basket")
        return None

    @staticmethod
    def _tint(colour: QColor, alpha: int) -> QColor:
        tinted = QColor(colour)
        tinted.setAlpha(alpha)
        return tinted

    def update_snapshot(self, snapshot: ChainSnapshot) -> None:
        old = self.snapshot
        same_rows = old is not None and [r.strike for r in old.view.rows] == \
            [r.strike for r in snapshot.view.rows]
        for row in snapshot.view.rows:
            for quote in (row.call, row.put):
                if quote.ltp is None:
                    continue
                before = self._previous_ltp.get(quote.tradingsymbol)
                if before is not None and quote.ltp != before:
                    self._ltp_move[quote.tradingsymbol] = 1 if quote.ltp > before else -1
                self._previous_ltp[quote.tradingsymbol] = quote.ltp
        if same_rows:
            self.snapshot = snapshot
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, self.columnCount() - 1))
        else:
            self.beginResetModel()
            self.snapshot = snapshot
            self.endResetModel()


class _Courier(QObject):
    """Carries a worker's result to the GUI thread (a queued signal)."""

    done = Signal(object)
    failed = Signal(str)


class ChainPoller(QObject):
    """Fetches the chain every ``interval_ms`` on a worker thread."""

    snapshot_ready = Signal(object)  # ChainSnapshot
    failed = Signal(str)

    def __init__(self, broker: OptionChainSource, underlying: str = "NIFTY",
                 strikes_each_side: int = 8, *,
                 interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.broker = broker
        self.underlying = underlying
        self.expiry: dt.date | None = None
        self.strikes_each_side = strikes_each_side
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._in_flight = False
        self._stopped = False
        self.fetches = 0
        self.last_fetch_ms = 0.0
        self._courier = _Courier(self)
        self._courier.done.connect(self._on_done)
        self._courier.failed.connect(self._on_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.fetch)

    def select(self, underlying: str, expiry: dt.date | None = None) -> None:
        """Show ``underlying``'s ``expiry`` (the nearest when None) from the next fetch on;
        a fetch still in flight for the old choice is dropped when it lands."""
        self.underlying, self.expiry = underlying, expiry
        self.fetch()

    def start(self) -> None:
        self._stopped = False
        self.fetch()
        self._timer.start()

    def stop(self, wait_ms: int = 3000) -> None:
        """Stop polling; waits up to ``wait_ms`` for a fetch in flight (shutdown only)."""
        self._stopped = True
        self._timer.stop()
        self._pool.waitForDone(wait_ms)

    def fetch(self) -> None:
        """Start a fetch unless one is still running (returns at once)."""
        if self._in_flight or self._stopped:
            return
        self._in_flight = True
        courier = self._courier
        broker, underlying, n = self.broker, self.underlying, self.strikes_each_side
        expiry = self.expiry

        def job() -> None:  # worker thread
            started = time.perf_counter()
            try:
                snapshot = fetch_snapshot(broker, underlying, n, expiry)
            except Exception as exc:  # a broker error must not kill the poller
                courier.failed.emit(f"option chain: {exc}")
            else:
                self.last_fetch_ms = (time.perf_counter() - started) * 1000
                courier.done.emit(snapshot)

        self._pool.start(job)

    def _on_done(self, snapshot: ChainSnapshot) -> None:
        self._in_flight = False
        self.fetches += 1
        if self._stopped:
            return
        view = snapshot.view
        if view.underlying != self.underlying or (self.expiry is not None
                                                  and view.expiry != self.expiry):
            self.fetch()  # fetched for the choice before select(): fetch the new one
            return
        self.snapshot_ready.emit(snapshot)

    def _on_failed(self, reason: str) -> None:
        self._in_flight = False
        if not self._stopped:
            self.failed.emit(reason)


class ChainChooser(QWidget):
    """The underlying and the expiry the chain shows, from what the source lists. Only the
    trader's own choice (``activated``), never a refill, emits :attr:`chosen`."""

    #: (underlying, expiry): the expiry None when the underlying changed (its nearest).
    chosen = Signal(str, object)

    def __init__(self, underlying: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.underlying = QComboBox(self)
        self.underlying.setObjectName("desk_underlying")
        self.underlying.addItem(underlying, underlying)
        self.underlying.setToolTip("The underlying whose options the chain shows (from the "
                                   "broker's instruments)")
        self.expiry = QComboBox(self)
        self.expiry.setObjectName("desk_expiry")
        self.expiry.setToolTip("The expiry the chain shows (the nearest at first)")
        for text, box in (("Underlying", self.underlying), ("Expiry", self.expiry)):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            label = QLabel(text, self)
            label.setBuddy(box)
            layout.addWidget(label)
            layout.addWidget(box)
        self.underlying.activated.connect(
            lambda _: self.chosen.emit(self.underlying.currentText(), None))
        self.expiry.activated.connect(
            lambda _: self.chosen.emit(self.underlying.currentText(), self.expiry.currentData()))

    def show_listed(self, view: OptionChain) -> None:
        """The underlyings and expiries ``view``'s source lists, the shown ones selected."""
        for box, items, shown in (
                (self.underlying, [(u, u) for u in view.underlyings], view.underlying),
                (self.expiry, [(f"{e:%d %b %Y}", e) for e in view.expiries], view.expiry)):
            if not items:
                continue
            box.blockSignals(True)
            if [box.itemData(i) for i in range(box.count())] != [data for _, data in items]:
                box.clear()
                for text, data in items:
                    box.addItem(text, data)
            box.setCurrentIndex(box.findData(shown))
            box.blockSignals(False)
