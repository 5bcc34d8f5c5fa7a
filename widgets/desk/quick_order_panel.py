"""The desk's single-strike quick order panel: a form that emits a ticket (plain data from
:mod:`.tickets`); the window turns it into a payload and hands it to the one ExecutionStack.
Keyboard: every field has a mnemonic; F1/F2 buy/sell while a field of the panel has the focus
(nowhere else).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
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
