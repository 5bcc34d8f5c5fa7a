"""PositionsView: what this session holds per instrument, with an Exit per position.

A table over :class:`~.positions_model.PositionBook` (the stack's own fills): symbol, net units
(+ long, - short), bought and sold with their average prices. Exit on a row asks to trade the
net back (:attr:`exit_requested`); the window sends it as one order (with its confirmation
above a size). Keyboard: the table takes the focus, Enter on a row exits it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
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

from ..events import Event
from .positions_model import Position, PositionBook

HEADERS = ("Symbol", "Net", "Bought", "Avg buy", "Sold", "Avg sell", "")


class PositionsView(QWidget):
    """This session's positions; Exit flattens one."""

    #: (tradingsymbol, exchange, net units): trade ``-net`` back.
    exit_requested = Signal(str, str, int)

    def __init__(self, book: PositionBook | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("positions")
        self.book = book or PositionBook()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("nothing traded yet", self)
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
        self.positions: list[Position] = []
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(200)
        self._refresh.timeout.connect(self.refresh)

    def add_event(self, event: Event) -> None:
        self.book.add(event)
        if event.parent_filled_quantity is not None and not self._refresh.isActive():
            self._refresh.start()

    def refresh(self) -> None:
        self.positions = self.book.positions()
        self.table.setRowCount(len(self.positions))
        for row, position in enumerate(self.positions):
            cells = (position.tradingsymbol, f"{position.net:+,}" if position.net else "flat",
                     f"{position.bought:,}", _price(position.average_buy),
                     f"{position.sold:,}", _price(position.average_sell))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            button = QPushButton("Exit", self.table)
            button.setObjectName(f"exit_{position.tradingsymbol}")
            button.setEnabled(position.net != 0)
            button.setToolTip(f"Trade {-position.net:+,} {position.tradingsymbol} back to flat "
                              "(Enter on the row does the same)")
            button.clicked.connect(lambda _=False, r=row: self._exit_row(r))
            self.table.setCellWidget(row, len(HEADERS) - 1, button)
        held = [p for p in self.positions if p.net]
        self.summary.setText(f"{len(held)} open position{'s' if len(held) != 1 else ''} of "
                             f"{len(self.positions)} instrument"
                             f"{'s' if len(self.positions) != 1 else ''} traded this session"
                             if self.positions else "nothing traded yet")

    def _exit_row(self, row: int) -> None:
        if 0 <= row < len(self.positions) and self.positions[row].net:
            position = self.positions[row]
            self.exit_requested.emit(position.tradingsymbol, position.exchange, position.net)


def _price(value: float | None) -> str:
    return f"{value:,.2f}" if value is not None else "–"
