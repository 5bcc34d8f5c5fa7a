"""The desk's multi-strike Buy/Exit panel: legs in a table, each with its own side and lots,
executed as one basket with one policy. A form that emits the legs (plain data from
:mod:`.tickets`); the window turns them into payloads and hands them to the one ExecutionStack.
Keyboard: every field sits in tab order right after one with a mnemonic; in the legs table,
Space toggles the current leg's side, B buys, S sells.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..theme import LIGHT, Theme
from .order_fields import PolicyForm, StrikePicker
from .tickets import BasketLeg, ChainSnapshot, OptionType, Side

AnyIndex = QModelIndex | QPersistentModelIndex


class BasketModel(QAbstractTableModel):
    """Legs of the multi-strike panel: each with its own side (B/S, toggled by :meth:`toggle_side`)
    and lots (editable)."""

    HEADERS = ("B/S", "Strike", "Type", "Lots", "Symbol", "LTP")
    SIDE, STRIKE, TYPE, LOTS, SYMBOL, LTP = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.legs: list[BasketLeg] = []
        self.snapshot: ChainSnapshot | None = None
        self.theme: Theme = LIGHT

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.legs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole \
                and section == self.SIDE:
            return "The leg's side: Space toggles it, B buys, S sells (or double-click)"
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        leg = self.legs[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if column == self.SIDE:
                return "B" if leg.side == "BUY" else "S"
            if column == self.STRIKE:
                return f"{leg.strike:,.0f}"
            if column == self.TYPE:
                return leg.option_type
            if column == self.LOTS:
                return leg.lots
            quote = self._quote(leg)
            if column == self.SYMBOL:
                return quote.tradingsymbol if quote else ""
            return f"{quote.ltp:,.2f}" if quote and quote.ltp else "–"
        if role == Qt.ItemDataRole.ForegroundRole and column == self.SIDE:
            return self.theme.buy if leg.side == "BUY" else self.theme.sell
        if role == Qt.ItemDataRole.ToolTipRole and column == self.SIDE:
            return f"{leg.side}: Space toggles, B buys, S sells"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column == self.SIDE:
                return int(Qt.AlignmentFlag.AlignCenter)
            if column in (self.STRIKE, self.LOTS, self.LTP):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _quote(self, leg: BasketLeg) -> Any:
        if self.snapshot is None:
            return None
        try:
            return self.snapshot.quote(leg.strike, leg.option_type)
        except ValueError:
            return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == self.LOTS else base

    def setData(self, index: AnyIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        leg = self.legs[index.row()]
        if index.column() == self.SIDE:
            side = str(value).strip().upper()[:1]
            if side not in ("B", "S"):
                return False
            self.legs[index.row()] = BasketLeg(leg.strike, leg.option_type, leg.lots,
                                               "BUY" if side == "B" else "SELL")
            self.dataChanged.emit(index, index)
            return True
        if index.column() != self.LOTS:
            return False
        try:
            lots = int(value)
        except (TypeError, ValueError):
            return False
        if lots < 1:
            return False
        self.legs[index.row()] = BasketLeg(leg.strike, leg.option_type, lots, leg.side)
        self.dataChanged.emit(index, index)
        return True

    def toggle_side(self, row: int) -> None:
        if 0 <= row < len(self.legs):
            self.setData(self.index(row, self.SIDE),
                         "S" if self.legs[row].side == "BUY" else "B")

    def add(self, leg: BasketLeg) -> None:
        """Add a leg; the same strike, type and side again adds to its lots."""
        for i, have in enumerate(self.legs):
            if (have.strike, have.option_type, have.side) == (leg.strike, leg.option_type,
                                                              leg.side):
                self.legs[i] = BasketLeg(leg.strike, leg.option_type, have.lots + leg.lots,
                                         leg.side)
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.HEADERS) - 1))
                return
        self.beginInsertRows(QModelIndex(), len(self.legs), len(self.legs))
        self.legs.append(leg)
        self.endInsertRows()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.legs):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.legs[row]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.legs.clear()
        self.endResetModel()

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        self.snapshot = snapshot
        if self.legs:
            self.dataChanged.emit(self.index(0, self.SYMBOL),
                                  self.index(len(self.legs) - 1, self.LTP))


class BasketPanel(QGroupBox):
    """Multi-strike Buy/Exit: pick strikes, a side and lots each, execute them as one basket
    with one policy: Buy sends the legs as entered, Exit sends every leg reversed."""

    #: legs (as entered), "BUY" (as entered) or "EXIT" (every side flipped), ExecutionPolicy
    basket_requested = Signal(list, str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Buy/Exit panel — multi-strike", parent)
        self.setObjectName("basket")
        layout = QVBoxLayout(self)
        layout.setSpacing(5)
        pick = QHBoxLayout()
        self.strike = StrikePicker(self)
        self.strike.setObjectName("basket_strike")
        self.strike.setToolTip("Strike of the leg to add")
        self.option_type = QComboBox(self)
        self.option_type.addItems(["CE", "PE"])
        self.option_type.setToolTip("Call or put")
        self.side = QComboBox(self)
        self.side.setObjectName("basket_side")
        self.side.addItems(["BUY", "SELL"])
        self.side.setToolTip("Side of the leg to add (toggle it in the table with Space)")
        self.lots = QSpinBox(self)
        self.lots.setRange(1, 500)
        self.lots.setPrefix("lots ")
        self.lots.setToolTip("Lots for the leg (edit them in the table later)")
        self.add_button = QPushButton("Add le&g", self)
        self.add_button.setObjectName("basket_add")
        self.add_button.setAutoDefault(False)
        for widget in (self.side, self.strike, self.option_type, self.lots, self.add_button):
            pick.addWidget(widget)
        pick.setStretch(1, 2)
        layout.addLayout(pick)
        self.model = BasketModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("basket_legs")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked |
                                   QAbstractItemView.EditTrigger.EditKeyPressed |
                                   QAbstractItemView.EditTrigger.AnyKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        metrics = self.table.fontMetrics()
        for i, sample in enumerate(("B/S", "26,000", "PE", "Lots", "NIFTY26D0126000CE")):
            header.resizeSection(i, metrics.horizontalAdvance(sample) + 18)
        self.table.verticalHeader().setDefaultSectionSize(metrics.height() + 8)
        layout.addWidget(self.table, 1)
        self.policy_form = PolicyForm(self, mnemonics=False)
        layout.addWidget(self.policy_form)
        actions = QHBoxLayout()
        self.remove_button = QPushButton("Remo&ve leg", self)
        self.remove_button.setObjectName("basket_remove")
        self.buy_all_button = QPushButton("Bu&y", self)
        self.buy_all_button.setObjectName("basket_buy_all")
        self.exit_all_button = QPushButton("&Exit", self)
        self.exit_all_button.setObjectName("basket_exit_all")
        self.buy_all_button.setToolTip("Execute the legs as entered, as one basket (hedges "
                                       "first); asks first, showing the order")
        self.exit_all_button.setToolTip("Execute every leg reversed (B and S flipped), as one "
                                        "basket (shorts bought back first); asks first")
        for button in (self.remove_button, self.buy_all_button, self.exit_all_button):
            button.setAutoDefault(False)
            actions.addWidget(button)
        layout.addLayout(actions)
        self.add_button.clicked.connect(self.add_leg)
        self.remove_button.clicked.connect(self.remove_selected)
        self.buy_all_button.clicked.connect(lambda: self.submit("BUY"))
        self.exit_all_button.clicked.connect(lambda: self.submit("EXIT"))
        self.table.installEventFilter(self)
        self.table.doubleClicked.connect(self._double_clicked)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.remove_selected)
        self.model.rowsInserted.connect(self._enable)
        self.model.rowsRemoved.connect(self._enable)
        self.model.modelReset.connect(self._enable)
        self.setTabOrder(self.side, self.strike)
        self.setTabOrder(self.strike, self.option_type)
        self.setTabOrder(self.option_type, self.lots)
        self.setTabOrder(self.lots, self.add_button)
        self.setTabOrder(self.add_button, self.table)
        self.setTabOrder(self.table, self.policy_form.algo)
        self.setTabOrder(self.policy_form.randomize, self.remove_button)
        self.setTabOrder(self.remove_button, self.buy_all_button)
        self.setTabOrder(self.buy_all_button, self.exit_all_button)
        self.add_button.setEnabled(False)
        self._enable()

    def apply_theme(self, theme: Theme) -> None:
        self.model.theme = theme
        # Palette, not a style sheet: a style sheet would drop the host style's button look.
        for button, colour in ((self.buy_all_button, theme.buy),
                               (self.exit_all_button, theme.sell)):
            palette = QPalette()  # only ButtonText set: every other role follows the parent
            for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
                palette.setColor(group, QPalette.ColorRole.ButtonText, colour)
            button.setPalette(palette)
            font = button.font()
            font.setBold(True)
            button.setFont(font)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Space toggles the current leg's side, B buys, S sells, while the B/S cell is
        current (an edit of another cell is left alone)."""
        if watched is self.table and event.type() == QEvent.Type.KeyPress \
                and self.table.state() != QAbstractItemView.State.EditingState:
            assert isinstance(event, QKeyEvent)
            index = self.table.currentIndex()
            if index.isValid() and index.column() == BasketModel.SIDE \
                    and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
                key = event.key()
                if key == Qt.Key.Key_Space:
                    self.model.toggle_side(index.row())
                    return True
                if key in (Qt.Key.Key_B, Qt.Key.Key_S):
                    self.model.setData(index, "B" if key == Qt.Key.Key_B else "S")
                    return True
        return super().eventFilter(watched, event)

    def _double_clicked(self, index: QModelIndex) -> None:
        if index.column() == BasketModel.SIDE:
            self.model.toggle_side(index.row())

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        self.strike.set_snapshot(snapshot)
        self.model.set_snapshot(snapshot)
        self.add_button.setEnabled(True)

    def add_leg(self) -> None:
        strike = self.strike.strike()
        if strike is None:
            return
        kind: OptionType = "CE" if self.option_type.currentText() == "CE" else "PE"
        side: Side = "SELL" if self.side.currentText() == "SELL" else "BUY"
        self.model.add(BasketLeg(strike, kind, self.lots.value(), side))

    def add(self, strike: float, option_type: OptionType, lots: int = 1,
            side: Side = "BUY") -> None:
        self.model.add(BasketLeg(strike, option_type, lots, side))

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()},
                      reverse=True)
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        for row in rows:
            self.model.remove(row)

    def submit(self, action: str) -> None:
        """``"BUY"``: the legs as entered; ``"EXIT"``: every leg reversed."""
        if self.model.legs:
            self.basket_requested.emit(list(self.model.legs),
                                       "EXIT" if action == "EXIT" else "BUY",
                                       self.policy_form.policy())

    def _enable(self, *_: Any) -> None:
        has_legs = bool(self.model.legs)
        for button in (self.remove_button, self.buy_all_button, self.exit_all_button):
            button.setEnabled(has_legs)
