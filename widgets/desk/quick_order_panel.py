"""The desk's single-strike quick order panel: a form that emits a ticket (plain data from
:mod:`.tickets`); the window turns it into a payload and hands it to the one ExecutionStack.
Keyboard: every field has a mnemonic; F1/F2 buy/sell while a field of the panel has the focus
(nowhere else).

What is sent is what the boxes show: Buy/Sell read the text in the Lots and Price boxes, and an
entry that is not a whole number of lots in range (or a price that is not a price) sends
nothing and says why, never the box's last valid value.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..theme import LIGHT, Theme
from .order_fields import PolicyForm, StrikePicker
from .tickets import BasketLeg, ChainSnapshot, OptionType, OrderTicket, Side


class QuickOrderPanel(QGroupBox):
    """Single-strike quick order: strike, CE/PE, lots, policy, Buy / Sell."""

    order_requested = Signal(object)  # OrderTicket
    #: An entry that cannot be sent (its reason): nothing was sent.
    entry_refused = Signal(str)

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
        self.lots.setRange(1, MAX_LOTS)
        self.lots.setValue(1)
        self.lots.setToolTip("Lots to trade: what the box shows is what is sent (the stack's "
                             "limits and a confirmation guard large orders)")
        lots_label = QLabel("&Lots", self)
        lots_label.setBuddy(self.lots)
        top.addRow(lots_label, self.lots)
        self.price = QDoubleSpinBox(self)
        self.price.setObjectName("quick_price")
        self.price.setRange(0.0, 100_000.0)
        self.price.setDecimals(2)
        self.price.setSingleStep(0.05)
        self.price.setSpecialValueText(MARKET_TEXT)  # 0: a MARKET order
        self.price.setToolTip(f"Limit price; {MARKET_TEXT} (0) sends a MARKET order with "
                              "Kite's market protection")
        price_label = QLabel("Price", self)  # (every letter taken: Tab from Lots)
        price_label.setBuddy(self.price)
        top.addRow(price_label, self.price)
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
            shortcut.setAutoRepeat(False)  # a key held down sends one order, not one a repeat
            shortcut.activated.connect(button.click)
        layout.addLayout(buttons)
        layout.addStretch(1)
        #: Why the last Buy/Sell sent nothing; shown until the entry changes.
        self.refusal: str | None = None
        self.strike.currentIndexChanged.connect(self._entry_changed)
        self.lots.lineEdit().textChanged.connect(self._entry_changed)
        self.price.lineEdit().textChanged.connect(self._entry_changed)
        self.option_type_group.buttonToggled.connect(self._entry_changed)
        self.setTabOrder(self.strike, self.call)
        self.setTabOrder(self.call, self.put)
        self.setTabOrder(self.put, self.lots)
        self.setTabOrder(self.lots, self.price)
        self.setTabOrder(self.price, self.policy_form.algo)
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

    def entered_lots(self) -> int:
        """The lots the box shows; ValueError (saying why) for anything else: an empty,
        partial or out-of-range entry is never replaced by the last valid value."""
        return parse_lots(self.lots.lineEdit().text())

    def entered_price(self) -> float | None:
        """The limit price the box shows (None: MARKET), read as the box reads it (its
        locale's decimal point); ValueError for anything else, an empty box included."""
        text = self.price.lineEdit().text().strip()
        if text == MARKET_TEXT:
            return None
        state = self.price.validate(text, len(text))
        acceptable = (state[0] if isinstance(state, tuple) else state) \
            is QValidator.State.Acceptable
        value = self.price.valueFromText(text) if acceptable else 0.0
        if not acceptable or value <= 0:
            shown = f"'{text}'" if text else "empty"
            raise ValueError(f"Price: {shown} is not a price (type one, or {MARKET_TEXT} for "
                             "a market order)")
        return value

    def ticket(self, side: Side) -> OrderTicket:
        strike = self.strike.strike()
        if strike is None:
            raise ValueError("strike: the option chain has not loaded yet")
        return OrderTicket(BasketLeg(strike, self.option_type(), self.entered_lots()), side,
                           self.policy_form.policy(), limit_price=self.entered_price())

    def submit(self, side: str) -> None:
        try:
            ticket = self.ticket("BUY" if side == "BUY" else "SELL")
        except ValueError as exc:
            self.refusal = f"{exc}: nothing sent"
            self._show_quote()
            self.entry_refused.emit(str(exc))
            return
        self.order_requested.emit(ticket)

    def _entry_changed(self, *_: Any) -> None:
        self.refusal = None
        self._show_quote()

    def _show_quote(self, *_: Any) -> None:
        strike = self.strike.strike()
        if self.snapshot is None or strike is None:
            return
        quote = self.snapshot.quote(strike, self.option_type())
        if self.refusal is not None:
            self.quote_label.setText(f"{quote.tradingsymbol}\n{self.refusal}")
            return
        try:
            lots = self.entered_lots()
        except ValueError as exc:
            self.quote_label.setText(f"{quote.tradingsymbol}\n{exc}")
            return
        units = lots * self.snapshot.lot_size
        bid = f"{quote.bid:,.2f}" if quote.bid else "–"
        ask = f"{quote.ask:,.2f}" if quote.ask else "–"
        self.quote_label.setText(f"{quote.tradingsymbol}   bid {bid} · ask {ask}\n"
                                 f"lot {self.snapshot.lot_size} → {units:,} units")


#: The most lots the box takes (the stack's limits and the confirmation guard large orders; a
#: box that silently drops a typed digit would send a number the trader did not type).
MAX_LOTS = 99_999
MARKET_TEXT = "MKT"


def parse_lots(text: str) -> int:
    """A lots entry as typed: a whole number from 1 to :data:`MAX_LOTS`."""
    cleaned = text.strip().replace(",", "")
    if not cleaned.isdigit():
        shown = f"'{text.strip()}'" if text.strip() else "empty"
        raise ValueError(f"Lots: {shown} is not a whole number of lots")
    lots = int(cleaned)
    if not 1 <= lots <= MAX_LOTS:
        raise ValueError(f"Lots: {lots:,} is not a number of lots from 1 to {MAX_LOTS:,}")
    return lots
