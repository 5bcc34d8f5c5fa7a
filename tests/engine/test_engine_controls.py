"""Engine controls: pause shifts the schedule, cancel and shutdown end every child with a row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine_support import assert_books_balance, make_request, make_rig

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.telemetry import FillQualityTracker, read_rows, unfinished_parents


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.002)


def test_pause_holds_new_slices_and_resume_shifts_the_rest_of_the_schedule(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, auto_advance=False, bid=100.0, ask=100.05)
    start = rig.clock.now()
    parent_id, future = rig.engine.submit(make_request(
        quantity=65 * 3, execution_algo="TWAP", max_child_orders=3, horizon_s=300,
        randomize_slices=False))
    try:
        placed = lambda: [r for r in rig.snapshot(parent_id) if r["event"] == "placed"]  # noqa: E731
        wait_for(lambda: len(placed()) == 1)
        wait_for(lambda: "filled" in rig.events(parent_id))  # read at once after placing
        rig.engine.pause(parent_id)
        wait_for(lambda: "paused" in rig.events(parent_id))
        rig.clock.advance(200.0)  # slice 2 was due at +100 s
        time.sleep(0.05)
        assert len(placed()) == 1
        rig.engine.resume(parent_id)
        wait_for(lambda: "resumed" in rig.events(parent_id))
        rig.clock.advance(98.0)  # +298 s: slice 2 now due at +300 s (100 + 200 paused)
        time.sleep(0.05)
        assert len(placed()) == 1
        rig.clock.advance(2.0)
        wait_for(lambda: len(placed()) == 2)
        assert round(placed()[1]["ts"] - start) == 300
        rig.clock.advance(500.0)
        result = future.result(5)
    finally:
        rig.close()
    assert result.status is ParentStatus.FILLED
    resumed = next(r for r in rig.file_rows() if r["event"] == "resumed")
    assert "shifted by 200.0 s" in resumed["message"]
    assert_books_balance(rig.file_rows(), 195)


def test_cancel_mid_twap_stops_new_slices_and_cancels_the_resting_child(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, auto_advance=False)  # wide book: the TWAP joins and rests
    parent_id, future = rig.engine.submit(make_request(
        quantity=65 * 4, execution_algo="TWAP", max_child_orders=4, horizon_s=400,
        randomize_slices=False))
    try:
        wait_for(lambda: "placed" in rig.events(parent_id))
        rig.engine.cancel(parent_id)
        rig.clock.advance(30.0)
        result = future.result(5)
    finally:
        rig.close()
    assert result.status is ParentStatus.CANCELLED
    assert rig.broker.place_calls == 1 and rig.broker.cancel_calls == 1
    rows = rig.file_rows()
    cancelled = [r for r in rows if r["event"] == "cancelled"]
    # one resting child cancelled at the broker, three never sent: all end with a row
    assert len(cancelled) == 4
    assert sum(1 for r in cancelled if r["message"] == "not sent: parent cancelled") == 3
    assert_books_balance(rows, 260)


def test_shutdown_finishes_every_working_parent_and_leaves_nothing_unfinished(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    ids = [rig.engine.submit(make_request(order_type="LIMIT", limit_price=99.0))[0]
           for _ in range(3)]
    wait_for(lambda: sum(e == "placed" for e in rig.events()) == 3)
    assert set(unfinished_parents(rig.file_rows())) == set(ids)
    rig.close()
    rows = rig.file_rows()
    assert unfinished_parents(rows) == []
    for parent_id in ids:
        parent_rows = [r for r in rows if r["parent_id"] == parent_id]
        assert parent_rows[-1]["status"] == "cancelled"
        assert_books_balance(parent_rows, 130)


def test_a_cancel_the_broker_never_confirms_still_ends_the_child_with_a_loud_row(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.broker.cancel_order = lambda order_id: None  # type: ignore[method-assign]  # ignored
    parent_id, future = rig.engine.submit(make_request(order_type="LIMIT", limit_price=99.0))
    try:
        wait_for(lambda: "placed" in rig.events(parent_id))
        rig.engine.cancel(parent_id)
        result = future.result(5)
    finally:
        rig.close()
    rows = rig.file_rows()
    error = next(r for r in rows if r["event"] == "error")
    assert "not confirmed" in error["error"] and "may still be live" in error["message"]
    assert result.status is ParentStatus.CANCELLED and result.unfilled_quantity == 130
    assert_books_balance(rows, 130)


def test_a_cancel_request_that_hangs_does_not_hold_the_parent_past_the_cancel_timeout(
        tmp_path: Path) -> None:
    """The cancel wait is bounded even when the request itself never returns. On the real
    clock: the virtual one stands still while a broker call is out, by design."""
    clock = RealClock()
    broker = InMemoryBroker(clock=clock)
    released = threading.Event()
    broker.cancel_order = lambda order_id: released.wait(30)  # type: ignore[assignment,method-assign,return-value]
    with FillQualityTracker("paper", tmp_path) as tracker:
        engine = ExecutionEngine(broker, clock=clock, tracker=tracker,
                                 config=EngineConfig(cancel_timeout_s=0.3))
        parent_id, future = engine.submit(make_request(order_type="LIMIT", limit_price=99.0))
        try:
            wait_for(lambda: any(o.status.name == "OPEN" for o in broker.orders()))
            engine.cancel(parent_id)
            result = future.result(5)  # would wait the whole 30 s without the bound
        finally:
            released.set()
            engine.shutdown(5.0)
    assert result.status is ParentStatus.CANCELLED
    (unknown,) = [r for r in read_rows(tracker.path) if r["event"] == "error"]
    assert unknown["status"] == "unknown" and "not confirmed within 0.3 s" in unknown["error"]


def test_a_re_cut_slice_that_needs_more_orders_takes_the_next_child_number(
        tmp_path: Path) -> None:
    """Slice 1 rests unfilled; slice 2 rolls it in, needs two orders (freeze 1755), and the
    second takes number 3: no number skipped, none above ``children``."""
    rig = make_rig(tmp_path)  # wide book: the TWAP joins the bid and rests
    parent_id, future = rig.engine.submit(make_request(
        quantity=65 * 40, execution_algo="TWAP", max_child_orders=2, horizon_s=120,
        randomize_slices=False))
    try:
        future.result(10)
    finally:
        rig.close()
    rows = [r for r in rig.file_rows() if r["parent_id"] == parent_id]
    placed = [r for r in rows if r["event"] == "placed"]
    assert [r["child_index"] for r in placed] == [1, 2, 3]
    assert [r["quantity"] for r in placed] == [1300, 1300, 1300]  # split evenly
    assert max(r["children"] for r in rows) == 3
    assert all(r["child_index"] <= r["children"] for r in rows if r["child_index"])
