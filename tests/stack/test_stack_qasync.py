"""Under qasync the host can ``await`` an execution handle on the GUI thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import qasync
from engine_support import make_request
from PySide6.QtWidgets import QApplication

from imperium_exec import ExecutionStack
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import ExecutionResult


def test_await_handle_under_qasync_while_signals_keep_flowing(qapp: QApplication,
                                                              tmp_path: Path) -> None:
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), clock=clock,
                           telemetry_dir=str(tmp_path))
    events: list[str] = []
    stack.telemetry_row.connect(lambda row: events.append(row["event"]))
    loop = qasync.QEventLoop(qapp)

    async def place_and_wait() -> ExecutionResult:
        handle = stack.execute(make_request(execution_algo="TWAP", max_child_orders=3,
                                            quantity=195, horizon_s=60))
        return await handle

    try:
        result = loop.run_until_complete(asyncio.wait_for(place_and_wait(), 10))
    finally:
        stack.shutdown()
        loop.close()
    assert result.filled_quantity + result.unfilled_quantity == 195
    assert events[0] == "accepted" and "placed" in events
