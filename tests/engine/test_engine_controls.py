"""Engine controls: pause shifts the schedule, cancel and shutdown end every child with a row."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from engine_support import assert_books_balance, make_request, make_rig

from imperium_exec.events import ParentStatus
from imperium_exec.telemetry import unfinished_parents


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
