"""Order confirmations from the stack's signals: one line per event a trader cares about.

:func:`describe` (plain data) says what a telemetry row means to the trader; the
:class:`ConfirmationLog` widget lists those lines, colour-coded, newest at the bottom.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

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


def _child(row: dict[str, Any]) -> str:
    i, n = row.get("child_index"), row.get("children")
    return f"child {i}/{n}" if i is not None and n else "child"


def _qty(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else "?"


def _price(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else "MKT"


def describe(row: dict[str, Any]) -> Confirmation | None:
    """The confirmation line for a telemetry row, or None for rows not worth a line."""
    event = row.get("event")
    symbol = row.get("tradingsymbol") or "?"
    side = row.get("side") or ""
    algo = row.get("execution_algo") or ""
    parent_id = row.get("parent_id")
    child = _child(row)

    def line(level: Level, text: str) -> Confirmation:
        return Confirmation(level, text, parent_id)

    if event == "accepted":
        n = row.get("children") or 0
        return line(Level.INFO, f"Accepted {side} {_qty(row.get('parent_quantity'))} {symbol} "
                                f"· {algo} · {n} child order{'s' if n != 1 else ''} planned")
    if event in ("placed", "reconciled"):
        latency = row.get("latency_ms")
        took = f" · {latency:.0f} ms" if isinstance(latency, int | float) else ""
        return line(Level.INFO, f"Placed {child} {side} {_qty(row.get('quantity'))} {symbol} "
                                f"@ {_price(row.get('limit_price'))} · order "
                                f"{row.get('order_id') or '?'}{took}")
    if event == "filled":
        slip = row.get("realized_slippage_bps")
        slip_text = f" · slippage {slip:+.1f} bps" if isinstance(slip, int | float) else ""
        return line(Level.GOOD, f"Filled {_qty(row.get('filled_quantity'))} {symbol} @ "
                                f"{_price(row.get('fill_price'))} ({child}){slip_text}")
    if event == "retry":
        return line(Level.WARN, f"Retrying {child} {symbol} after a {row.get('error_bucket')} "
                                f"error: {row.get('error')}")
    if event in ("error", "rejected"):
        verb = "rejected" if event == "rejected" else "not placed"
        return line(Level.BAD, f"{child.capitalize()} {symbol} {verb} "
                               f"({row.get('error_bucket')}): {row.get('error')}")
    if event == "paused":
        return line(Level.WARN, f"Paused {algo} {symbol} ({parent_id})")
    if event == "resumed":
        return line(Level.INFO, f"Resumed {algo} {symbol} ({parent_id}): "
                                f"{row.get('message') or ''}".rstrip(": "))
    if event == "warning":
        return line(Level.WARN, f"{symbol}: {row.get('message')}")
    if event == "finished":
        status = row.get("status")
        level = {"filled": Level.GOOD, "failed": Level.BAD}.get(str(status), Level.WARN)
        avg = row.get("average_price")
        avg_text = f" @ avg {avg:,.2f}" if isinstance(avg, int | float) else ""
        text = (f"Done: {side} {symbol} {status}, {_qty(row.get('filled_quantity'))}/"
                f"{_qty(row.get('parent_quantity'))} filled{avg_text}")
        if row.get("message"):
            text += f" · {row['message']}"
        return line(level, text)
    return None  # cancelled children, ghosts: the parent's finish line says enough


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

    def add_row(self, row: dict[str, Any]) -> None:
        confirmation = describe(row)
        if confirmation is not None:
            ts = row.get("ts")
            self.add(confirmation, ts if isinstance(ts, int | float) else None)

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
