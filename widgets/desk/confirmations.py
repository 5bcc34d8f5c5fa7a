"""Order confirmations from the stack's signals: one line per event a trader cares about.

:func:`describe` (plain data) says what an event means to the trader; the
:class:`ConfirmationLog` widget lists those lines, colour-coded, newest at the bottom.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from ...events import Event, EventKind, Status
from ...timeutil import IST
from ..theme import LIGHT, Theme


class Level(Enum):
    INFO = "info"
    GOOD = "good"
    WARN = "warn"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class Confirmation:
    level: Level
    text: str
    parent_id: str | None = None


def _child(e: Event) -> str:
    return f"child {e.child_index}/{e.children}" if e.child_index is not None and e.children \
        else "child"


def _qty(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _price(value: float | None) -> str:
    return "MKT" if value is None else f"{value:,.2f}"


def describe(e: Event) -> Confirmation | None:
    """The confirmation line for an event, or None for events not worth a line."""
    kind = e.event
    symbol = e.tradingsymbol or "?"
    side = e.side or ""
    algo = e.execution_algo or ""
    child = _child(e)

    def line(level: Level, text: str) -> Confirmation:
        return Confirmation(level, text, e.parent_id or None)

    if kind is EventKind.ACCEPTED:
        n = e.children or 0
        return line(Level.INFO, f"Accepted {side} {_qty(e.parent_quantity)} {symbol} "
                                f"· {algo} · {n} child order{'s' if n != 1 else ''} planned")
    if kind is EventKind.PLACED:  # (a reconciled child's placed row follows its reconciled one)
        took = f" · {e.latency_ms:.0f} ms" if e.latency_ms is not None else ""
        return line(Level.INFO, f"Placed {child} {side} {_qty(e.quantity)} {symbol} "
                                f"@ {_price(e.limit_price)} · order {e.order_id or '?'}{took}")
    if kind is EventKind.FILLED:
        # Coloured by what the fill cost against the arrival price: a cost red, a saving green.
        slip = e.realized_slippage_bps
        level, slip_text = Level.INFO, ""
        if slip is not None and abs(slip) >= 0.05:
            level = Level.BAD if slip > 0 else Level.GOOD
            slip_text = f" · {'cost' if slip > 0 else 'saving'} {abs(slip):.1f} bps"
        return line(level, f"Filled {_qty(e.filled_quantity)} {symbol} @ "
                           f"{_price(e.fill_price)} ({child}){slip_text}")
    if kind is EventKind.RECONCILING:  # reconciled (then placed), retry or error follows
        return line(Level.WARN, f"Checking the order book for {child} {symbol} (tag {e.tag}) "
                                f"after a {e.error_bucket} error: {e.error}")
    if kind is EventKind.RETRY:
        return line(Level.WARN, f"Retrying {child} {symbol} after a {e.error_bucket} "
                                f"error: {e.error}")
    if kind in (EventKind.ERROR, EventKind.REJECTED):
        verb = ("rejected" if kind is EventKind.REJECTED
                else "outcome unknown" if e.status is Status.UNKNOWN else "not placed")
        return line(Level.BAD, f"{child.capitalize()} {symbol} {verb} "
                               f"({e.error_bucket}): {e.error}")
    if kind is EventKind.PAUSED:
        return line(Level.WARN, f"Paused {algo} {symbol} ({e.parent_id})")
    if kind is EventKind.RESUMED:
        return line(Level.INFO, f"Resumed {algo} {symbol} ({e.parent_id}): "
                                f"{e.message or ''}".rstrip(": "))
    if kind is EventKind.WARNING:
        return line(Level.WARN, f"{symbol}: {e.message}")
    if kind is EventKind.FINISHED:
        level = {Status.FILLED: Level.GOOD, Status.FAILED: Level.BAD}.get(
            e.status or Status.PARTIAL, Level.WARN)
        avg = f" @ avg {e.average_price:,.2f}" if e.average_price is not None else ""
        text = (f"Done: {side} {symbol} {e.status}, {_qty(e.filled_quantity)}/"
                f"{_qty(e.parent_quantity)} filled{avg}")
        if e.message:
            text += f" · {e.message}"
        return line(level, text)
    if kind is EventKind.GHOST and e.status is Status.UNKNOWN:
        return line(Level.WARN, f"{symbol}: {e.message}")
    if kind is EventKind.BASKET_ACCEPTED:
        order = " · ".join(line for line in (e.message or "").splitlines() if line.strip())
        return Confirmation(Level.INFO, f"Basket {e.basket_id} accepted, "
                                        f"{_qty(e.parent_quantity)} units: {order}")
    if kind is EventKind.BASKET_FINISHED:
        level = {Status.FILLED: Level.GOOD, Status.FAILED: Level.BAD}.get(
            e.status or Status.PARTIAL, Level.WARN)
        report = " · ".join(line.strip() for line in (e.message or "").splitlines()
                            if line.strip())
        return Confirmation(level, f"Basket {e.basket_id} {e.status}, "
                                   f"{_qty(e.parent_filled_quantity)}/"
                                   f"{_qty(e.parent_quantity)} filled · {report}")
    if kind is EventKind.SESSION:
        return line(Level.BAD, f"Broker session lost: re-login needed. {e.message or ''}")
    return None  # reconciled (its placed row follows), cancelled children, settled ghosts


class ConfirmationLog(QListWidget):
    """The desk's order confirmations, newest at the bottom."""

    MAX_LINES = 500

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confirmations")
        self.setAlternatingRowColors(True)
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.theme: Theme = LIGHT

    def add_event(self, event: Event) -> None:
        """Slot for the stack's ``telemetry_event``: a line for the events a trader cares about
        (see :func:`describe`)."""
        confirmation = describe(event)
        if confirmation is not None:
            self.add(confirmation, event.ts)

    def add(self, confirmation: Confirmation, ts: float | None = None) -> None:
        stamp = dt.datetime.fromtimestamp(ts, IST) if ts is not None else dt.datetime.now(IST)
        item = QListWidgetItem(f"{stamp:%H:%M:%S}  {confirmation.text}")
        colour = {Level.GOOD: self.theme.good, Level.WARN: self.theme.warn,
                  Level.BAD: self.theme.bad}.get(confirmation.level)
        if colour is not None:
            item.setForeground(colour)
        item.setData(Qt.ItemDataRole.UserRole, confirmation.parent_id)
        item.setToolTip(confirmation.text)
        self.addItem(item)
        while self.count() > self.MAX_LINES:
            self.takeItem(0)
        self.scrollToBottom()

    def refuse(self, reason: str) -> None:
        """An order the stack refused before sending anything (validation)."""
        self.add(Confirmation(Level.BAD, f"Refused: {reason}"))

    def lines(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
