"""The single-strike order's confirmation: what is about to be sent, before anything is.

Asked above a size (:class:`ConfirmAbove`: one freeze quantity, or a premium value) and whenever
the order breaks a size limit of the stack (the lines of :class:`~imperium_exec.risk.Breach`);
below both, one keypress still sends (speed matters). Enter sends, Esc declines. The margin the
broker says the order needs is asked in the background and shown when it comes: the dialog never
waits for it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from ...brokers.base import MarginCheck
from ...request import ExecutionRequest, OrderType, Side
from ...risk import Breach, premium_price

MarginAnswer = concurrent.futures.Future[MarginCheck]

#: Ask before an order is sent: (parent widget, text, the margin on its way or None) -> True
#: to send.
ConfirmOrder = Callable[[QWidget, str, MarginAnswer | None], bool]


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

    def __init__(self, text: str, parent: QWidget | None = None, *,
                 margin: MarginAnswer | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("order_confirmation")
        self.setWindowTitle("Send order")
        layout = QVBoxLayout(self)
        self.text = QLabel(text, self)
        self.text.setObjectName("order_confirmation_text")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        self.margin = QLabel(margin_text(None) if margin is not None
                             else "margin: this broker has no margin check", self)
        self.margin.setObjectName("order_confirmation_margin")
        self.margin.setWordWrap(True)
        layout.addWidget(self.margin)
        self._margin_answer = margin
        self._margin_timer = QTimer(self)
        self._margin_timer.setInterval(50)
        self._margin_timer.timeout.connect(self._show_margin)
        if margin is not None:
            self._margin_timer.start()
        buttons = QDialogButtonBox(self)
        self.send_button = buttons.addButton("&Send", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.send_button.setDefault(True)
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

    def _show_margin(self) -> None:
        answer = self._margin_answer
        if answer is None or not answer.done():
            return
        self._margin_timer.stop()
        self.margin.setText(margin_text(answer))


def confirm_order_with_dialog(parent: QWidget, text: str, margin: MarginAnswer | None) -> bool:
    dialog = OrderConfirmDialog(text, parent, margin=margin)
    return dialog.exec() == QDialog.DialogCode.Accepted


def margin_text(answer: MarginAnswer | None) -> str:
    """The broker's margin answer in words (None: still on its way)."""
    if answer is None:
        return "margin: asking the broker…"
    error = answer.exception()
    if error is not None:
        return f"margin: the broker's margin check failed ({type(error).__name__}: {error})"
    check = answer.result()
    line = f"margin: needs ₹{check.required:,.0f}, ₹{check.available:,.0f} available"
    if check.shortfall > 0:
        line += f": short by ₹{check.shortfall:,.0f}, the broker would refuse it"
    return line


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
