"""Builders for the orphans panel's tests: recovery reports and a stack's recovery controls
(plain helpers)."""

from __future__ import annotations

import concurrent.futures

from dock_support import T0

from imperium_exec.engine.state import ExecutionResult
from imperium_exec.events import ParentStatus
from imperium_exec.recovery.report import Orphan, OrphanOrder, RecoveryReport
from imperium_exec.request import Side

SYMBOL = "NIFTY26D0126000CE"


def order(order_id: str, tag: str, pending: int, side: Side = Side.BUY) -> OrphanOrder:
    return OrphanOrder(order_id, tag, SYMBOL, side, "OPEN", pending, 0, pending)


def orphan(parent_id: str, *, side: Side = Side.BUY, quantity: int = 260, filled: int = 0,
           down: int = 0, orders: tuple[OrphanOrder, ...] = (),
           not_adoptable: str | None = None) -> Orphan:
    return Orphan(parent_id, SYMBOL, "NFO", side, quantity, filled, orders, down, "TWAP",
                  None, None, not_adoptable)


def report(*orphans: Orphan, unknown: tuple[OrphanOrder, ...] = (),
           error: str | None = None) -> RecoveryReport:
    return RecoveryReport(tuple(orphans), unknown, "journal.jsonl", T0, error=error)


def result(parent_id: str, filled: int = 0, quantity: int = 260) -> ExecutionResult:
    return ExecutionResult(parent_id, ParentStatus.CANCELLED, quantity, filled,
                           quantity - filled, 0.0, (), ())


class Handle:
    def __init__(self, parent_id: str) -> None:
        self.parent_id = parent_id
        self.future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> ExecutionResult:
        return self.future.result(timeout)


class Control:
    """The stack as the book sees it: records each call, answers with futures the test
    resolves."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.cancel_all_future: concurrent.futures.Future[list[ExecutionResult]] = \
            concurrent.futures.Future()
        self.handles: dict[str, Handle] = {}

    def cancel_orphans(self) -> concurrent.futures.Future[list[ExecutionResult]]:
        self.calls.append(("cancel_orphans", None))
        return self.cancel_all_future

    def cancel(self, parent_id: str) -> None:
        self.calls.append(("cancel", parent_id))

    def adopt(self, parent_id: str, *, window_s: float | None = None) -> Handle:
        self.calls.append(("adopt", parent_id))
        handle = self.handles[parent_id] = Handle(f"NEW{parent_id}")
        return handle
