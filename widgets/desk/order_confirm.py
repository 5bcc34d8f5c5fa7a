"""The single-strike order's confirmation: what is about to be sent, before anything is.

Asked above a size (:class:`ConfirmAbove`: one freeze quantity, or a premium value) and whenever
the order breaks a size limit of the stack (the lines of :class:`~imperium_exec.risk.Breach`);
below both, one keypress still sends (speed matters). Enter sends, Esc declines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ...request import ExecutionRequest, OrderType, Side
from ...risk import Breach, premium_price

#: Ask before an order is sent: (parent widget, text) -> True to send.
ConfirmOrder = Callable[[QWidget, str], bool]


@dataclass(frozen=True, slots=True)
class ConfirmAbove:
    """When the desk asks before a single-strike order: more units than this many freeze
    quantities, or more premium than this many rupees."""

    freezes: float = 1.0
    premium: float = 500_000.0

    def asks(self, request: ExecutionRequest) -> bool:
        price = premium_price(request)
        premium = request.quantity * price if price is not None else 0.0
        return request.quantity > self.freezes * request.freeze_quantity \
            or premium > self.premium


class OrderConfirmDialog(QDialog):
    """The order in words; Send is the default button (Enter), Cancel the escape (Esc)."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("order_confirmation")
        self.setWindowTitle("Send order")
        layout = QVBoxLayout(self)
        self.text = QLabel(text, self)
        self.text.setObjectName("order_confirmation_text")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(self)
        self.send_button = buttons.addButton("&Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.send_button.setDefault(True)
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)


def confirm_order_with_dialog(parent: QWidget, text: str) -> bool:
    return OrderConfirmDialog(text, parent).exec() == QDialog.DialogCode.Accepted


def confirmation_text(request: ExecutionRequest, breaches: list[Breach]) -> str:
    """Side, symbol, lots and units, algorithm and schedule, price or market protection, the
    premium and the cost of crossing the spread, and the limits it goes past."""
    buy = request.side is Side.BUY
    lines = [f"{request.side} {request.lots:,} lots ({request.quantity:,} units) "
             f"{request.tradingsymbol}"]
    algo = str(request.execution_algo)
    if request.max_child_orders > 1 and request.horizon_s is not None:
        algo += f", up to {request.max_child_orders} slices over {request.horizon_s:g} s"
    lines.append(f"{algo}, {request.execution_urgency} urgency")
    if request.order_type is OrderType.LIMIT and request.limit_price is not None:
        lines.append(f"LIMIT {request.limit_price:,.2f}")
    else:
        protection = "auto" if request.market_protection == -1 \
            else f"{request.market_protection} %"
        lines.append(f"MARKET (market protection {protection})")
    price = premium_price(request)
    if price is not None:
        where = "limit" if request.limit_price is not None else ("ask" if buy else "bid")
        lines.append(f"premium about ₹{request.quantity * price:,.0f} at the {where} "
                     f"{price:,.2f} ({'paid' if buy else 'received'})")
    if request.bid is not None and request.ask is not None:
        half = (request.ask - request.bid) / 2.0
        lines.append(f"cost of crossing the spread about ₹{half * request.quantity:,.0f} "
                     "(half the spread on every unit, before impact)")
    if not buy:
        lines.append("margin: the broker is asked before the first child; a sell it does "
                     "not cover sends nothing")
    if breaches:
        lines += ["", "Past the stack's size limits:"] + [f"  {b.limit}: {b.reason}"
                                                         for b in breaches]
    lines += ["", "Enter sends, Esc declines."]
    return "\n".join(lines)
