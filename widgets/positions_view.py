"""PositionsView: what this session holds per instrument beside what the broker's account holds,
with an Exit per position.

A table over :class:`~.positions_model.PositionBook` (the stack's own fills): symbol, net units
(+ long, - short), bought and sold with their average prices; then the broker's net and average
(:meth:`~imperium_exec.stack.ExecutionStack.broker_positions`), marked ``≠`` with a tooltip where
they disagree with this session's, and rows for what the broker holds of instruments this
session never traded. Exit on a row asks to trade what the session holds back
(:attr:`exit_requested`), or on a row of the broker's alone its holding
(:attr:`exit_broker_requested`); the window sends it (with its confirmation above a size).
Keyboard: the table takes the focus, Enter on a row exits it.

The broker's positions are read off the GUI thread (a future from ``read_broker``, polled here),
while the view is shown: when it is shown, after this session's fills, and every
:data:`BROKER_REFRESH_S`; never more often than every :data:`BROKER_MIN_GAP_S`, one read at a
time (Kite allows 10 reads a second for everything).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..brokers.base import BrokerPosition
from ..events import Event
from .positions_model import BrokerSnapshot, PositionBook, PositionRow
from .theme import Theme

HEADERS = ("Symbol", "Net", "Bought", "Avg buy", "Sold", "Avg sell", "Broker net",
           "Broker avg", "")
BROKER_NET_COLUMN = 6
#: How often the broker's positions are read while the view is shown.
BROKER_REFRESH_S = 5.0
#: The least time between two reads (after fills, on showing the view).
BROKER_MIN_GAP_S = 2.0
#: Asks the broker's positions (``ExecutionStack.broker_positions``): a future, or None when
#: the broker reports none.
BrokerRead = Callable[[], concurrent.futures.Future[list[BrokerPosition]] | None]


class PositionsView(QWidget):
    """This session's positions beside the broker's; Exit flattens one."""

    #: (tradingsymbol, exchange, units held): trade them back.
    exit_requested = Signal(str, str, int)
    #: A tuple of :class:`BrokerPosition` (an instrument this session never traded, per
    #: product): trade what the broker holds back to flat.
    exit_broker_requested = Signal(object)

    def __init__(self, book: PositionBook | None = None, parent: QWidget | None = None, *,
                 read_broker: BrokerRead | None = None,
                 refresh_s: float = BROKER_REFRESH_S,
                 min_gap_s: float = BROKER_MIN_GAP_S) -> None:
        super().__init__(parent)
        self.setObjectName("positions")
        self.book = book or PositionBook()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("nothing traded yet", self)
        self.summary.setObjectName("positions_summary")
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setObjectName("positions_table")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(lambda index: self._exit_row(index.row()))
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.positions: list[PositionRow] = []
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(200)
        self._refresh.timeout.connect(self.refresh)
        # --- the broker's positions
        self.read_broker = read_broker
        #: The broker's positions as last read (None: not yet, or the broker has none).
        self.broker: BrokerSnapshot | None = None
        #: Why the last read failed (the figures shown are the read before), else None.
        self.broker_error: str | None = None
        #: Reads asked so far.
        self.broker_reads = 0
        self.min_gap_s = min_gap_s
        self._asked: concurrent.futures.Future[list[BrokerPosition]] | None = None
        self._asked_after = 0
        self._last_ask = -float("inf")
        self._broker_every = QTimer(self)
        self._broker_every.setInterval(round(refresh_s * 1000))
        self._broker_every.timeout.connect(self.read_broker_positions)
        self._broker_soon = QTimer(self)
        self._broker_soon.setSingleShot(True)
        self._broker_soon.timeout.connect(self.read_broker_positions)
        self._broker_answer = QTimer(self)
        self._broker_answer.setInterval(50)
        self._broker_answer.timeout.connect(self._take_broker_answer)

    # ------------------------------------------------------------------ this session's fills
    def add_event(self, event: Event) -> None:
        fills = self.book.fills
        self.book.add(event)
        if event.parent_filled_quantity is not None and not self._refresh.isActive():
            self._refresh.start()
        if self.book.fills != fills and self.isVisible():
            self.read_broker_positions()

    # ------------------------------------------------------------------ the broker's positions
    def read_broker_positions(self) -> None:
        """Ask the broker's positions now, or as soon as the last read is far enough back
        (nothing when one is on its way, or the broker has none)."""
        if self.read_broker is None or self._asked is not None:
            return
        wait = self._last_ask + self.min_gap_s - time.monotonic()
        if wait > 0:
            if not self._broker_soon.isActive():
                self._broker_soon.start(max(1, round(wait * 1000)))
            return
        try:
            asked = self.read_broker()
        except Exception as exc:  # e.g. the stack already shut down: said, asked again later
            self.broker_error = str(exc) or type(exc).__name__
            self._last_ask = time.monotonic()
            self.refresh()
            return
        if asked is None:  # the broker reports no positions: stop asking
            self.read_broker = None
            self._broker_every.stop()
            self.refresh()
            return
        self._asked, self._asked_after = asked, self.book.fills
        self._last_ask = time.monotonic()
        self.broker_reads += 1
        self._broker_answer.start()

    def _take_broker_answer(self) -> None:
        asked = self._asked
        if asked is None or not asked.done():
            return
        self._broker_answer.stop()
        self._asked = None
        try:
            held = asked.result()
        except Exception as exc:  # said in the summary; the figures read before stay
            self.broker_error = str(exc) or type(exc).__name__
        else:
            self.broker = BrokerSnapshot(tuple(held), self._asked_after, time.time())
            self.broker_error = None
        self.refresh()
        if self.book.fills != self._asked_after and self.isVisible():
            self.read_broker_positions()  # filled meanwhile: read again (after the gap)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.read_broker is not None:
            self._broker_every.start()
            self.read_broker_positions()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._broker_every.stop()
        self._broker_soon.stop()

    # ------------------------------------------------------------------ the table
    def refresh(self) -> None:
        self.positions = self.book.rows(self.broker)
        theme = Theme.for_palette(self.palette())
        self.table.setRowCount(len(self.positions))
        for row, position in enumerate(self.positions):
            own = position.own
            note = position.broker_note()
            cells = (position.tradingsymbol,
                     ("flat" if not position.net else f"{position.net:+,}") if own else "–",
                     f"{own.bought:,}" if own else "–",
                     _price(own.average_buy if own else None),
                     f"{own.sold:,}" if own else "–",
                     _price(own.average_sell if own else None),
                     _broker_net(position), _price(position.broker_average))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if column == 0 or column >= BROKER_NET_COLUMN:
                    item.setToolTip(note)
                if column == BROKER_NET_COLUMN and position.mismatch:
                    item.setBackground(theme.row_warn)
                    item.setForeground(theme.warn)
                self.table.setItem(row, column, item)
            units = position.exit_units
            button = QPushButton("Exit", self.table)
            button.setObjectName(f"exit_{position.tradingsymbol}")
            button.setEnabled(units != 0)
            button.setToolTip(
                f"Trade {-units:+,} {position.tradingsymbol} back to flat" +
                ("" if position.traded else " (the broker's holding: not traded here)") +
                " (Enter on the row does the same)")
            button.clicked.connect(lambda _=False, r=row: self._exit_row(r))
            self.table.setCellWidget(row, len(HEADERS) - 1, button)
        self.summary.setText(self._summary())

    def _summary(self) -> str:
        mine = [p for p in self.positions if p.traded]
        held = [p for p in mine if p.held]
        text = (f"{len(held)} open position{'s' if len(held) != 1 else ''} of "
                f"{len(mine)} instrument{'s' if len(mine) != 1 else ''} traded this session"
                if mine else "nothing traded yet")
        if self.broker is not None:
            outside = len(self.positions) - len(mine)
            mismatched = sum(p.mismatch for p in self.positions)
            text += (f" · broker, {time.strftime('%H:%M:%S', time.localtime(self.broker.taken_at))}"
                     + (f": {outside} more held outside this session" if outside else "")
                     + (f", ≠ {mismatched} disagree" if mismatched else ""))
        elif self.read_broker is not None:
            text += " · reading the broker's positions…"
        if self.broker_error is not None:
            text += f" · broker's positions not read: {self.broker_error}"
        return text

    def _exit_row(self, row: int) -> None:
        if not 0 <= row < len(self.positions):
            return
        position = self.positions[row]
        if not position.exit_units:
            return
        if position.traded:
            self.exit_requested.emit(position.tradingsymbol, position.exchange, position.held)
        else:
            self.exit_broker_requested.emit(tuple(p for p in position.broker if p.quantity))


def _price(value: float | None) -> str:
    return f"{value:,.2f}" if value is not None else "–"


def _broker_net(position: PositionRow) -> str:
    net = position.broker_net
    if net is None:
        return "–"
    text = f"{net:+,}" if net else "flat"
    return f"≠ {text}" if position.mismatch else text
