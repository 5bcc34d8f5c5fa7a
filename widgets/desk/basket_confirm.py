"""The basket confirmation: what is about to be sent, in what order and why, and the one way to
turn hedge-first off (it needs the trader's explicit acknowledgement of legging risk)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ...baskets.request import BasketRequest
from ...risk import Breach


@dataclass(frozen=True, slots=True)
class BasketChoice:
    """The trader said send; with hedge-first as it is, or off with legging risk accepted."""

    hedge_first: bool = True
    acknowledge_legging_risk: bool = False


def basket_confirmation_text(title: str, basket: BasketRequest,
                             over: list[tuple[int, Breach]]) -> str:
    """The legs, the order they go in and why, and the size limits a leg goes past (sending
    it is the trader's confirmation past them)."""
    lines = [f"{title}: {len(basket.legs)} leg{'s' if len(basket.legs) != 1 else ''}"]
    lines += [f"  {leg.side} {leg.quantity:,} {leg.tradingsymbol}" for leg in basket.legs]
    lines += ["", "Order:"] + [f"  {line}" for line in basket.legging_rules().sequence_text()]
    if over:
        lines += ["", "Past the stack's size limits:"] + [
            f"  legs[{i}].{b.limit}: {b.reason}" for i, b in over]
    return "\n".join(lines)


#: Ask before a basket is sent: (parent widget, text) -> the choice, or None (not sent).
ConfirmBasket = Callable[[QWidget, str], BasketChoice | None]


class BasketConfirmDialog(QDialog):
    """The text, an override of hedge-first, and its acknowledgement (Send is disabled while
    the override is ticked without it). Cancel is the default button."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("basket_confirmation")
        self.setWindowTitle("Send basket")
        layout = QVBoxLayout(self)
        self.text = QLabel(text, self)
        self.text.setObjectName("basket_confirmation_text")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        self.override = QCheckBox("&Override hedge-first: send every leg at once", self)
        self.override.setObjectName("override_hedge_first")
        self.acknowledge = QCheckBox("I &accept legging risk: a short may fill before its "
                                     "hedge", self)
        self.acknowledge.setObjectName("acknowledge_legging_risk")
        self.acknowledge.setEnabled(False)
        layout.addWidget(self.override)
        layout.addWidget(self.acknowledge)
        self.buttons = QDialogButtonBox(self)
        self.send_button = self.buttons.addButton("&Send",
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.send_button.setAutoDefault(False)
        cancel.setDefault(True)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.override.toggled.connect(self._enable)
        self.acknowledge.toggled.connect(self._enable)

    def _enable(self) -> None:
        override = self.override.isChecked()
        self.acknowledge.setEnabled(override)
        if not override:
            self.acknowledge.setChecked(False)
        self.send_button.setEnabled(not override or self.acknowledge.isChecked())

    def choice(self) -> BasketChoice:
        override = self.override.isChecked()
        return BasketChoice(hedge_first=not override,
                            acknowledge_legging_risk=override and self.acknowledge.isChecked())


def confirm_basket_with_dialog(parent: QWidget, text: str) -> BasketChoice | None:
    dialog = BasketConfirmDialog(text, parent)
    return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
