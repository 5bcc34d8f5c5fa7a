"""Builders for the dock and desk tests: telemetry rows and a stack double (plain helpers)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from PySide6.QtCore import QObject, Signal

from imperium_exec.events import SCHEMA_VERSION, Event, read_event
from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets.desk.tickets import ChainSnapshot

T0 = 1_795_500_000.0  # 2026-11-24 09:30 IST
SYMBOL = "NIFTY26D0126000CE"
_clock = itertools.count()


def row(event: str, *, parent_id: str = "P1", **fields: Any) -> dict[str, Any]:
    """A complete telemetry row with plausible defaults; every call is 0.1 s after the last."""
    base: dict[str, Any] = dict(
        ts=T0 + next(_clock) * 0.1, timestamp="2026-11-24T09:30:00+05:30", mode="paper",
        tradingsymbol=SYMBOL, execution_algo="TWAP", side="BUY", exchange="NFO",
        parent_quantity=260, parent_filled_quantity=0, children=4, route="paper",
        arrival_price=100.0)
    if event in ("placed", "retry", "error", "filled", "cancelled", "rejected", "reconciling",
                 "reconciled"):
        base.update(child_index=1, quantity=65, attempt=1, limit_price=100.05,
                    queue_priority="take", expected_slippage=0.025, impact_estimate=0.01,
                    expected_cost_bps=3.5)
    base.update(event=event, parent_id=parent_id)
    base.setdefault("status", {"accepted": "working", "placed": "placed", "retry": "retry",
                               "reconciling": "reconciling",
                               "error": "error", "filled": "filled", "cancelled": "cancelled",
                               "rejected": "rejected", "finished": "filled",
                               "paused": "paused", "resumed": "working"}.get(event))
    base.update(fields)
    base["v"] = SCHEMA_VERSION
    return read_event(base).to_row()  # read first: a field or value the schema lacks fails


def events(rows: list[dict[str, Any]]) -> list[Event]:
    """The typed events of ``rows``."""
    return [read_event(r) for r in rows]


def parent_story(parent_id: str, *, children: int = 4, filled: int = 4, symbol: str = SYMBOL,
                 algo: str = "TWAP", latency_ms: float = 20.0, finished: bool = True,
                 mode: str = "paper") -> list[dict[str, Any]]:
    """accepted, then per child placed (+ filled for the first ``filled``), then finished."""
    quantity = 65 * children
    common: dict[str, Any] = dict(parent_id=parent_id, tradingsymbol=symbol,
                                  execution_algo=algo, parent_quantity=quantity,
                                  children=children, mode=mode)
    rows = [row("accepted", **common)]
    done = 0
    for i in range(1, children + 1):
        rows.append(row("placed", child_index=i, latency_ms=latency_ms + i,
                        parent_filled_quantity=done, **common))
        if i <= filled:
            done += 65
            rows.append(row("filled", child_index=i, filled_quantity=65, fill_price=100.1,
                            realized_slippage=0.1, realized_slippage_bps=10.0,
                            parent_filled_quantity=done, **common))
    if finished:
        rows.append(row("finished", status="filled" if done == quantity else "partial",
                        parent_filled_quantity=done, filled_quantity=done, **common))
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]], *, torn: bytes = b"") -> None:
    """Append rows as JSONL (what another process's tracker would write), plus torn bytes."""
    with open(path, "ab") as f:
        for r in rows:
            f.write(orjson.dumps(r) + b"\n")
        f.write(torn)


class StackDouble(QObject):
    """The ExecutionStack's signals and controls, driven by the test."""

    telemetry_row = Signal(dict)
    telemetry_event = Signal(object)
    parent_accepted = Signal(dict)
    child_placed = Signal(dict)
    child_error = Signal(dict)
    child_retry = Signal(dict)
    child_reconciling = Signal(dict)
    child_filled = Signal(dict)
    child_cancelled = Signal(dict)
    parent_finished = Signal(dict)
    basket_accepted = Signal(dict)
    basket_finished = Signal(dict)

    _SIGNALS: ClassVar[dict[str, str]] = {"accepted": "parent_accepted", "placed": "child_placed",
                "error": "child_error", "rejected": "child_error", "retry": "child_retry",
                "reconciling": "child_reconciling",
                "filled": "child_filled", "cancelled": "child_cancelled",
                "finished": "parent_finished", "basket_accepted": "basket_accepted",
                "basket_finished": "basket_finished"}

    def __init__(self, tracker: FillQualityTracker) -> None:
        super().__init__()
        self.tracker = tracker
        self.mode = tracker.mode
        self.calls: list[tuple[str, str | None]] = []
        #: The stack's clock as the test sets it (None: the wall clock).
        self.clock_ts: float | None = None

    def send(self, *rows: dict[str, Any]) -> None:
        """Journal and emit rows, as the stack does (file first, then signals)."""
        for r in rows:
            self.tracker.append(r)
            self.telemetry_event.emit(read_event(r))
            self.telemetry_row.emit(r)
            name = self._SIGNALS.get(r["event"])
            if name is not None:
                getattr(self, name).emit(r)

    #: Before every row the builders stamp (T0 onwards): all rows sent are this session's.
    started_ts = T0 - 1.0

    def now(self) -> float:
        return time.time() if self.clock_ts is None else self.clock_ts

    def pause(self, parent_id: str) -> None:
        self.calls.append(("pause", parent_id))

    def resume(self, parent_id: str) -> None:
        self.calls.append(("resume", parent_id))

    def cancel(self, parent_id: str) -> None:
        self.calls.append(("cancel", parent_id))

    def cancel_all(self) -> None:
        self.calls.append(("cancel_all", None))

    def cancel_basket(self, basket_id: str) -> None:
        self.calls.append(("cancel_basket", basket_id))


def chain_snapshot(seed: int = 3, strikes_each_side: int = 4) -> ChainSnapshot:
    """A real option-chain snapshot from the paper exchange, frozen in virtual time."""
    from imperium_exec.brokers.paper.broker import PaperBroker
    from imperium_exec.clock import VirtualClock
    from imperium_exec.widgets.desk.tickets import fetch_snapshot

    broker = PaperBroker(clock=VirtualClock(), seed=seed)
    return fetch_snapshot(broker, "NIFTY", strikes_each_side)
