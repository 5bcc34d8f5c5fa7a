"""ExecutionStack: every signal arrives on the GUI thread carrying the telemetry row."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import make_request
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QThread, QTimer
from pytestqt.qtbot import QtBot

from imperium_exec import ExecutionStack
from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.errors import GeneralException, NetworkException, TokenException
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.events import read_event
from imperium_exec.retry import RetryPolicy
from imperium_exec.telemetry import read_rows


@pytest.fixture
def stack(qtbot: QtBot, tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = VirtualClock()
    broker = InMemoryBroker(clock=clock)
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=str(tmp_path),
                           retry_policy=RetryPolicy(reconcile_window_s=1.0),
                           config=EngineConfig(id_seed=3))
    yield stack
    stack.shutdown()


def on_gui_thread(rows: list[tuple[dict[str, Any], bool]]):  # type: ignore[no-untyped-def]
    def slot(row: dict[str, Any]) -> None:
        app = QCoreApplication.instance()
        assert app is not None
        rows.append((row, QThread.currentThread() is app.thread()))
    return slot


def test_placed_filled_and_finished_signals_carry_the_rows_on_the_gui_thread(
        qtbot: QtBot, stack: ExecutionStack) -> None:
    seen: list[tuple[dict[str, Any], bool]] = []
    for signal in (stack.child_placed, stack.child_filled, stack.parent_finished):
        signal.connect(on_gui_thread(seen))
    with qtbot.waitSignal(stack.parent_finished, timeout=5000) as finished:
        handle = stack.execute(make_request())
    assert finished.args[0]["parent_id"] == handle.parent_id
    assert [row["event"] for row, _ in seen] == ["placed", "filled", "finished"]
    assert all(gui for _, gui in seen)
    assert handle.result(1).filled_quantity == 130
    file_rows = read_rows(stack.tracker.path)
    assert [r for r in file_rows if r["event"] in ("placed", "filled", "finished")] == [
        row for row, _ in seen]


@pytest.mark.parametrize(("failure", "bucket", "signals"), [
    (GeneralException("Insufficient funds. Required margin is 1 but available margin is 0.",
                      code=400), "risk", ("child_error", "parent_finished")),
    # a lost session: the desk is told first; the parent is halted, not finished
    (TokenException("Token is invalid or has expired."), "fatal",
     ("session_expired", "child_error")),
])
def test_error_signal_names_the_bucket(qtbot: QtBot, stack: ExecutionStack,
                                       failure: Exception, bucket: str,
                                       signals: tuple[str, str]) -> None:
    assert isinstance(stack.broker, InMemoryBroker)
    stack.broker.fail_next(failure)
    seen: list[tuple[dict[str, Any], bool]] = []
    stack.child_error.connect(on_gui_thread(seen))
    with qtbot.waitSignals([getattr(stack, name) for name in signals], timeout=5000,
                           order="strict"):
        stack.execute(make_request())
    (row, gui), = seen
    assert gui and row["error_bucket"] == bucket and row["status"] == "error"
    assert row["attempt"] == 1 and row["error"]


@pytest.mark.parametrize(("failure", "bucket"), [
    (NetworkException("Too many requests", code=429), "throttle"),
    (NetworkException("Request failed (kitetrade-oms)", code=503), "transient"),
])
def test_retry_signal_then_placed(qtbot: QtBot, stack: ExecutionStack, failure: Exception,
                                  bucket: str) -> None:
    assert isinstance(stack.broker, InMemoryBroker)
    stack.broker.fail_next(failure)
    seen: list[tuple[dict[str, Any], bool]] = []
    stack.child_retry.connect(on_gui_thread(seen))
    stack.child_placed.connect(on_gui_thread(seen))
    with qtbot.waitSignals([stack.child_retry, stack.child_placed], timeout=5000,
                           order="strict"):
        stack.execute(make_request())
    assert [row["event"] for row, _ in seen] == ["retry", "placed"]
    assert all(gui for _, gui in seen)
    retry_row = seen[0][0]
    assert retry_row["error_bucket"] == bucket and retry_row["attempt"] == 1
    assert seen[1][0]["attempt"] == 2


def test_bad_input_raises_before_anything_reaches_the_broker(qtbot: QtBot,
                                                            stack: ExecutionStack) -> None:
    assert isinstance(stack.broker, InMemoryBroker)
    with pytest.raises(ValueError, match="end_at"):
        stack.execute(make_request(execution_algo="TWAP", max_child_orders=2,
                                   end_at="2020-01-01T10:00:00"))
    with pytest.raises(ValueError, match="quantity"):
        stack.execute_payload({"tradingsymbol": "NIFTY26D0125000CE", "transaction_type": "BUY",
                               "quantity": 100, "order_type": "MARKET"})
    assert stack.broker.place_calls == 0


@pytest.mark.timing
def test_a_slow_broker_never_stalls_the_gui_heartbeat(qtbot: QtBot, tmp_path: Path) -> None:
    broker = InMemoryBroker(clock=RealClock(), latency_s=0.2)
    stack = ExecutionStack(broker, "paper", clock=RealClock(), telemetry_dir=str(tmp_path),
                           config=EngineConfig(poll_interval_s=0.05))
    gaps: list[int] = []
    timer = QTimer()
    timer.setInterval(1)
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer.timeout.connect(beat)
    timer.start()
    try:
        started = time.perf_counter()
        handles = [stack.execute(make_request()) for _ in range(3)]
        submit_ms = (time.perf_counter() - started) * 1e3
        qtbot.waitUntil(lambda: all(h.done() for h in handles), timeout=10000)
    finally:
        timer.stop()
        stack.shutdown()
    assert broker.place_calls == 3  # each call blocked a worker for 200 ms...
    assert submit_ms < 100  # ...but execute() returned at once
    # ...and the GUI thread kept ticking: a blocked GUI would show a gap of >= 200 ms.
    assert len(gaps) > 100
    assert max(gaps) < 100, f"heartbeat stalled {max(gaps)} ms"


def test_slots_receive_the_very_row_that_was_journaled(qtbot: QtBot,
                                                       stack: ExecutionStack) -> None:
    journaled: list[dict[str, Any]] = []
    stack.engine.add_listener(journaled.append)  # runs on the engine thread, after the write
    with qtbot.waitSignal(stack.parent_finished, timeout=5000) as finished:
        stack.execute(make_request())
    # The listener runs on the engine thread, possibly after the GUI already got the signal.
    qtbot.waitUntil(lambda: any(r["event"] == "finished" for r in journaled), timeout=5000)
    journaled_finished = next(r for r in journaled if r["event"] == "finished")
    assert finished.args[0] is journaled_finished  # not a copy: Signal(object), no QVariantMap


def test_every_row_is_also_announced_as_its_typed_event_first(qtbot: QtBot,
                                                              stack: ExecutionStack) -> None:
    order: list[tuple[str, Any]] = []
    stack.telemetry_event.connect(lambda e: order.append(("event", e)))
    stack.telemetry_row.connect(lambda r: order.append(("row", r)))
    with qtbot.waitSignal(stack.parent_finished, timeout=5000):
        stack.execute(make_request())
    assert [kind for kind, _ in order] == ["event", "row"] * (len(order) // 2)
    for (_, event), (_, row) in zip(order[::2], order[1::2], strict=True):
        assert event == read_event(row) and event.to_row() == row


def test_a_reconciled_child_is_announced_placed_once(qtbot: QtBot,
                                                     stack: ExecutionStack) -> None:
    from imperium_exec.brokers.errors import BrokerTimeout

    assert isinstance(stack.broker, InMemoryBroker)
    stack.broker.fail_next(BrokerTimeout("read timed out", sent=True), record=True)
    placed: list[dict[str, Any]] = []
    reconciling: list[tuple[dict[str, Any], bool]] = []
    retried: list[dict[str, Any]] = []
    stack.child_placed.connect(placed.append)
    stack.child_reconciling.connect(on_gui_thread(reconciling))
    stack.child_retry.connect(retried.append)
    with qtbot.waitSignal(stack.parent_finished, timeout=5000):
        stack.execute(make_request())
    assert [r["event"] for r in placed] == ["placed"] and stack.broker.place_calls == 1
    # The wait on the order book is announced once, on its own signal (it is not a retry).
    [(row, gui)] = reconciling
    assert gui and row["event"] == "reconciling" and row["tag"] == placed[0]["tag"]
    assert retried == []


def test_a_stack_opening_a_world_readable_journal_makes_it_private(tmp_path: Path) -> None:
    """The stack's own journal gets the same protection as one opened directly."""
    path = tmp_path / "execution_quality_live.jsonl"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                           telemetry_dir=tmp_path)
    try:
        assert stack.tracker.path == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        stack.shutdown()


def test_the_readme_lists_every_signal_of_the_stack() -> None:
    from PySide6.QtCore import Signal

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("The stack's signals, each carrying the row")
    listed = readme[start:readme.index("\n\n", start)]
    declared = {name for name, value in vars(ExecutionStack).items()
                if isinstance(value, Signal) and not name.startswith("_")}
    assert "child_reconciling" in declared
    assert {name for name in declared if f"`{name}`" not in listed} == set()


def test_a_one_leg_basket_executes_like_its_request_and_signals_its_start_and_end(
        qtbot: QtBot, stack: ExecutionStack) -> None:
    seen: list[tuple[dict[str, Any], bool]] = []
    for signal in (stack.basket_accepted, stack.child_placed, stack.child_filled,
                   stack.parent_finished, stack.basket_finished):
        signal.connect(on_gui_thread(seen))
    with qtbot.waitSignal(stack.basket_finished, timeout=5000) as finished:
        handle = stack.execute_basket(BasketRequest(legs=(make_request(),)))
    assert finished.args[0]["basket_id"] == handle.basket_id
    assert [row["event"] for row, _ in seen] == [
        "basket_accepted", "placed", "filled", "finished", "basket_finished"]
    assert all(gui for _, gui in seen)
    leg_rows = [row for row, _ in seen if row["parent_id"]]
    assert {row["parent_id"] for row in leg_rows} == set(handle.parent_ids)
    assert {row["leg_role"] for row in leg_rows} == {"outright"}
    result = handle.result(1)
    assert result.filled == (130,) and result.message == "every leg filled"
    assert result.completion() is None  # nothing left to complete
