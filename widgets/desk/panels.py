"""The desk's two order panels: the single-strike quick order and the multi-strike Buy/Exit panel.

Both are forms that emit a ticket (plain data from :mod:`.tickets`); the window turns tickets
into payloads and hands them to the one ExecutionStack. Keyboard: every field has a mnemonic
(quick order) or sits in tab order right after one (basket); F1/F2 buy/sell the quick order
while a field of the quick-order panel has the focus (nowhere else).
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
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...algos.names import ExecutionAlgo
from ...request import MAX_CHILD_ORDERS, Urgency
from ..theme import LIGHT, Theme
from .tickets import BasketLeg, ChainSnapshot, ExecutionPolicy, OptionType, OrderTicket, Side

AnyIndex = QModelIndex | QPersistentModelIndex
ALGOS = [a.value for a in ExecutionAlgo]
URGENCIES = [u.value for u in Urgency]


class PolicyForm(QWidget):
    """Algorithm, urgency, slices, horizon, participation, randomisation."""

    def __init__(self, parent: QWidget | None = None, *, mnemonics: bool = True) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.algo = QComboBox(self)
        self.algo.addItems(ALGOS)
        self.algo.setToolTip("IMMEDIATE: now (split only above the freeze quantity) · TWAP: "
                             "equal slices · VWAP: volume-curve slices · POV: a share of market "
                             "volume · IS: front-loaded (Almgren–Chriss)")
        self.urgency = QComboBox(self)
        self.urgency.addItems(URGENCIES)
        self.urgency.setToolTip("high takes liquidity and front-loads IS")
        self.slices = QSpinBox(self)
        self.slices.setRange(1, MAX_CHILD_ORDERS)
        self.slices.setValue(5)
        self.slices.setToolTip("max_child_orders: the most time slices the schedule may use")
        self.horizon = QSpinBox(self)
        self.horizon.setRange(5, 7 * 3600)
        self.horizon.setSingleStep(30)
        self.horizon.setValue(300)
        self.horizon.setSuffix(" s")
        self.horizon.setToolTip("How long a scheduled algorithm works the order")
        self.participation = QDoubleSpinBox(self)
        self.participation.setRange(1.0, 100.0)
        self.participation.setDecimals(0)
        self.participation.setValue(15.0)
        self.participation.setSuffix(" %")
        self.participation.setToolTip("POV target share of market volume (also the impact hint)")
        self.randomize = QCheckBox("&Randomize slices" if mnemonics else "Randomize slices", self)
        self.randomize.setChecked(True)
        self.randomize.setToolTip("Seeded jitter of slice sizes (whole lots) and send times")
        labels = ("&Algorithm", "Urge&ncy", "Sl&ices", "&Horizon", "Par&ticipation") \
            if mnemonics else ("Algorithm", "Urgency", "Slices", "Horizon", "Participation")
        for text, field in zip(labels, (self.algo, self.urgency, self.slices, self.horizon,
                                        self.participation), strict=True):
            label = QLabel(text, self)
            label.setBuddy(field)
            form.addRow(label, field)
        form.addRow("", self.randomize)
        self.algo.currentTextChanged.connect(self._enable_fields)
        self._enable_fields(self.algo.currentText())

    def _enable_fields(self, algo: str) -> None:
        scheduled = algo != ExecutionAlgo.IMMEDIATE.value
        self.slices.setEnabled(scheduled)
        self.horizon.setEnabled(scheduled)
        self.participation.setEnabled(algo == ExecutionAlgo.POV.value)

    def policy(self) -> ExecutionPolicy:
        return ExecutionPolicy(algo=self.algo.currentText(), urgency=self.urgency.currentText(),
                               slices=self.slices.value(), horizon_s=float(self.horizon.value()),
                               participation=self.participation.value() / 100.0,
                               randomize=self.randomize.isChecked())

    def set_policy(self, policy: ExecutionPolicy) -> None:
        self.algo.setCurrentText(policy.algo)
        self.urgency.setCurrentText(policy.urgency)
        self.slices.setValue(policy.slices)
        self.horizon.setValue(round(policy.horizon_s))
        self.participation.setValue(policy.participation * 100.0)
        self.randomize.setChecked(policy.randomize)


class StrikePicker(QComboBox):
    """The chain's strikes, ATM marked; keeps the chosen strike across chain refreshes."""

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        strikes = snapshot.strikes
        if [self.itemData(i) for i in range(self.count())] == strikes:
            return
        current = self.currentData()
        self.blockSignals(True)
        self.clear()
        for strike in strikes:
            atm = abs(strike - snapshot.view.atm_strike) < 1e-6
            self.addItem(f"{strike:,.0f}" + ("  ATM" if atm else ""), strike)
        wanted = current if current is not None else snapshot.view.atm_strike
        self.setCurrentIndex(max(0, self.findData(wanted)))
        self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def strike(self) -> float | None:
        value = self.currentData()
        return float(value) if value is not None else None

    def set_strike(self, strike: float) -> bool:
        i = self.findData(strike)
        if i >= 0:
            self.setCurrentIndex(i)
        return i >= 0


class QuickOrderPanel(QGroupBox):
    """Single-strike quick order: strike, CE/PE, lots, policy, Buy / Sell."""

    order_requested = Signal(object)  # OrderTicket

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Quick order — single strike", parent)
        self.setObjectName("quick_order")
        self.snapshot: ChainSnapshot | None = None
        self.theme: Theme = LIGHT
        layout = QVBoxLayout(self)
        layout.setSpacing(5)
        top = QFormLayout()
        top.setHorizontalSpacing(8)
        top.setVerticalSpacing(4)
        self.strike = StrikePicker(self)
        self.strike.setObjectName("quick_strike")
        strike_label = QLabel("Stri&ke", self)
        strike_label.setBuddy(self.strike)
        top.addRow(strike_label, self.strike)
        kind = QHBoxLayout()
        self.call = QRadioButton("&CE", self)
        self.put = QRadioButton("&PE", self)
        self.call.setChecked(True)
        self.option_type_group = QButtonGroup(self)
        self.option_type_group.addButton(self.call)
        self.option_type_group.addButton(self.put)
        kind.addWidget(self.call)
        kind.addWidget(self.put)
        kind.addStretch(1)
        top.addRow("Type", kind)
        self.lots = QSpinBox(self)
        self.lots.setObjectName("quick_lots")
        self.lots.setRange(1, 500)
        self.lots.setValue(1)
        lots_label = QLabel("&Lots", self)
        lots_label.setBuddy(self.lots)
        top.addRow(lots_label, self.lots)
        layout.addLayout(top)
        self.quote_label = QLabel("waiting for the option chain…", self)
        self.quote_label.setObjectName("quick_quote")
        layout.addWidget(self.quote_label)
        self.policy_form = PolicyForm(self)
        layout.addWidget(self.policy_form)
        buttons = QHBoxLayout()
        self.buy_button = QPushButton("&Buy", self)
        self.buy_button.setObjectName("quick_buy")
        self.sell_button = QPushButton("&Sell", self)
        self.sell_button.setObjectName("quick_sell")
        for button, side, key in ((self.buy_button, "BUY", "F1"),
                                  (self.sell_button, "SELL", "F2")):
            button.setAutoDefault(False)
            button.setMinimumHeight(button.sizeHint().height() + 6)
            button.setToolTip(f"{side.capitalize()} the selected strike ({key} while a field "
                              "of this panel has the focus)")
            button.clicked.connect(lambda _=False, side=side: self.submit(side))
            buttons.addWidget(button)
            # Only while the quick-order panel has the focus: elsewhere the key is someone
            # else's (F2 edits a basket cell), and a key must never send an order by surprise.
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(button.click)
        layout.addLayout(buttons)
        layout.addStretch(1)
        for widget in (self.strike, self.lots):
            signal = widget.currentIndexChanged if isinstance(widget, QComboBox) \
                else widget.valueChanged
            signal.connect(self._show_quote)
        self.option_type_group.buttonToggled.connect(self._show_quote)
        self.setTabOrder(self.strike, self.call)
        self.setTabOrder(self.call, self.put)
        self.setTabOrder(self.put, self.lots)
        self.setTabOrder(self.lots, self.policy_form.algo)
        self.setTabOrder(self.policy_form.randomize, self.buy_button)
        self.setTabOrder(self.buy_button, self.sell_button)
        self._enable(False)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.buy_button.setStyleSheet(
            f"QPushButton:enabled {{ background: {theme.buy.darker(140).name()}; color: white; "
            "font-weight: bold; }")
        self.sell_button.setStyleSheet(
            f"QPushButton:enabled {{ background: {theme.sell.darker(150).name()}; "
            "color: white; font-weight: bold; }")

    def _enable(self, enabled: bool) -> None:
        self.buy_button.setEnabled(enabled)
        self.sell_button.setEnabled(enabled)

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        self.snapshot = snapshot
        self.strike.set_snapshot(snapshot)
        self._enable(True)
        self._show_quote()

    def option_type(self) -> OptionType:
        return "CE" if self.call.isChecked() else "PE"

    def select(self, strike: float, option_type: OptionType) -> None:
        self.strike.set_strike(strike)
        (self.call if option_type == "CE" else self.put).setChecked(True)

    def ticket(self, side: Side) -> OrderTicket:
        strike = self.strike.strike()
        if strike is None:
            raise ValueError("strike: the option chain has not loaded yet")
        return OrderTicket(BasketLeg(strike, self.option_type(), self.lots.value()), side,
                           self.policy_form.policy())

    def submit(self, side: str) -> None:
        self.order_requested.emit(self.ticket("BUY" if side == "BUY" else "SELL"))

    def _show_quote(self, *_: Any) -> None:
        strike = self.strike.strike()
        if self.snapshot is None or strike is None:
            return
        quote = self.snapshot.quote(strike, self.option_type())
        units = self.lots.value() * self.snapshot.lot_size
        bid = f"{quote.bid:,.2f}" if quote.bid else "–"
        ask = f"{quote.ask:,.2f}" if quote.ask else "–"
        self.quote_label.setText(f"{quote.tradingsymbol}   bid {bid} · ask {ask}\n"
                                 f"lot {self.snapshot.lot_size} → {units:,} units")


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
