"""Engine retries: each bucket's behaviour, reconcile-by-tag before re-sending, ghosts handled."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import assert_books_balance, make_request, make_rig

from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.brokers.errors import (
    BrokerTimeout,
    GeneralException,
    InputException,
    NetworkException,
    TokenException,
)
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.engine.execution_engine import SessionExpired
from imperium_exec.events import ErrorBucket, ParentStatus
from imperium_exec.retry import BucketPolicy, RetryPolicy


def run_one(tmp_path: Path, *failures: BaseException, record: bool = False,
            policy: RetryPolicy | None = None):  # type: ignore[no-untyped-def]
    rig = make_rig(tmp_path, retry_policy=policy)
    rig.broker.fail_next(*failures, record=record)
    try:
        _, future = rig.engine.submit(make_request())
        result = future.result(10)
    finally:
        rig.close()
    # These tests are about the child's attempts: the fill's markout rows are left out.
    return rig, result, [r for r in rig.file_rows() if r["event"] != "markout"]


def test_throttle_is_retried_after_a_second_and_then_placed(tmp_path: Path) -> None:
    rig, result, rows = run_one(tmp_path, NetworkException("Too many requests", code=429))
    assert result.status is ParentStatus.FILLED
    assert [r["event"] for r in rows] == ["accepted", "retry", "placed", "filled", "finished"]
    retry = rows[1]
    assert (retry["error_bucket"], retry["attempt"], retry["ambiguous"]) == ("throttle", 1, False)
    assert "Too many requests" in retry["error"]
    assert rows[2]["attempt"] == 2 and rows[2]["tag"] != retry["tag"]
    assert rows[2]["ts"] - retry["ts"] >= 0.75  # throttle backoff is about a second
    assert rig.broker.place_calls == 2


def test_transient_error_reconciles_first_and_resends_only_when_the_order_is_absent(
        tmp_path: Path) -> None:
    rig, result, rows = run_one(tmp_path, NetworkException("Request failed (kitetrade-oms)",
                                                           code=503))
    assert result.status is ParentStatus.FILLED
    events = [r["event"] for r in rows]
    # The first attempt's tag stays watched after the re-send; its ghost row closes the
    # question: it never turned up (the watch ran out) or the engine stopped still watching.
    assert events == ["accepted", "reconciling", "retry", "placed", "filled", "finished",
                      "ghost"]
    reconciling, retry = rows[1], rows[2]
    assert reconciling["tag"] == retry["tag"] and reconciling["attempt"] == retry["attempt"] == 1
    assert retry["error_bucket"] == "transient" and retry["ambiguous"] is True
    assert rows[-1]["tag"] == retry["tag"] and rows[-1]["status"] in ("not_placed", "unknown")
    assert rig.broker.place_calls == 2 and len(rig.broker.orders()) == 1


def test_timeout_after_sending_adopts_the_ghost_order_instead_of_placing_twice(
        tmp_path: Path) -> None:
    rig, result, rows = run_one(tmp_path, BrokerTimeout("read timed out", sent=True),
                                record=True)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 130
    assert [r["event"] for r in rows] == ["accepted", "reconciling", "reconciled", "placed",
                                         "filled", "finished"]
    assert rig.broker.place_calls == 1 and len(rig.broker.orders()) == 1  # never double-placed
    assert rows[3]["order_id"] == rig.broker.orders()[0].order_id
    assert_books_balance(rows, 130)


class _StrayOrderOnTimeout(InMemoryBroker):
    """The first placement times out after sending, and the book then shows an order under
    its tag for ``stray_quantity``, not the quantity sent (a stray order, not this attempt's)."""

    def __init__(self, *, stray_quantity: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.stray_quantity = stray_quantity
        self.timed_out = False

    def place_order(self, order: OrderInstruction) -> str:
        if not self.timed_out:
            self.timed_out = True
            super().place_order(replace(order, quantity=self.stray_quantity))
            raise BrokerTimeout("read timed out", sent=True)
        return super().place_order(order)


@pytest.mark.parametrize("stray_quantity", [65, 195])
def test_reconcile_never_adopts_an_order_under_the_tag_with_another_quantity(
        tmp_path: Path, stray_quantity: int) -> None:
    rig = make_rig(tmp_path, broker_type=_StrayOrderOnTimeout, stray_quantity=stray_quantity)
    try:
        _, future = rig.engine.submit(make_request())
        future.result(10)
    finally:
        rig.close()
    rows = rig.file_rows()
    assert "reconciled" not in [r["event"] for r in rows]
    placed = [r for r in rows if r["event"] == "placed"]
    assert [r["attempt"] for r in placed] == [2]  # re-sent, under a new tag
    assert [o.quantity for o in rig.broker.placed] == [stray_quantity, 130]
    assert placed[0]["order_id"] == rig.broker.orders()[1].order_id


def test_kite_timed_out_400_is_treated_as_ambiguous(tmp_path: Path) -> None:
    rig, result, rows = run_one(
        tmp_path, InputException("Order request timed out. Please check the order book and "
                                 "confirm before placing again.", code=400), record=True)
    assert result.status is ParentStatus.FILLED
    assert rig.broker.place_calls == 1 and "reconciled" in [r["event"] for r in rows]


def test_risk_rejection_is_not_retried_and_fails_the_parent(tmp_path: Path) -> None:
    rig, result, rows = run_one(tmp_path, GeneralException(
        "Insufficient funds. Required margin is 95417.84 but available margin is 74251.80.",
        code=400))
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert [r["event"] for r in rows] == ["accepted", "error", "finished"]
    assert rows[1]["error_bucket"] == "risk" and rows[1]["attempt"] == 1
    assert rig.broker.place_calls == 1
    assert "risk" in (result.message or "")
    assert_books_balance(rows, 130)


def test_fatal_error_is_not_retried(tmp_path: Path) -> None:
    rig, result, rows = run_one(tmp_path, InputException("Invalid `tradingsymbol`."))
    assert result.status is ParentStatus.FAILED
    assert rows[1]["event"] == "error" and rows[1]["error_bucket"] == "fatal"
    assert rig.broker.place_calls == 1


def test_a_token_error_halts_the_session_once_and_holds_the_parent_until_shutdown(
        tmp_path: Path) -> None:
    """The refused attempt is an error row; the parent is halted (a paused row), sends
    nothing more and waits for a new login; shut down without one, it ends failed."""
    rig = make_rig(tmp_path)
    rig.broker.fail_next(TokenException("Token is invalid or has expired."))
    try:
        _, future = rig.engine.submit(make_request())
        deadline = time.monotonic() + 10
        while not any(r["event"] == "paused" for r in rig.file_rows()) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not future.done()  # held, not ended
        with pytest.raises(SessionExpired, match="re-login needed"):
            rig.engine.submit(make_request())
    finally:
        rig.close()
    result = future.result(0)
    rows = [r for r in rig.file_rows() if r["event"] != "markout"]
    assert result.status is ParentStatus.FAILED and "re-login needed" in (result.message or "")
    session = [r for r in rows if r["event"] == "session"]
    assert len(session) == 1 and session[0]["status"] == "relogin_needed"
    assert [r["event"] for r in rows] == ["accepted", "session", "paused", "error", "finished"]
    assert rows[3]["error_bucket"] == "fatal" and rows[2]["message"].startswith("halted: ")
    assert rig.broker.place_calls == 1


def test_transient_retries_stop_at_the_bucket_limit(tmp_path: Path) -> None:
    policy = RetryPolicy(reconcile_window_s=0.0)
    policy.policies[ErrorBucket.TRANSIENT] = BucketPolicy(2, 0.1, 0.1)
    failures = [BrokerTimeout("connect failed", sent=False) for _ in range(5)]
    rig, result, rows = run_one(tmp_path, *failures, policy=policy)
    assert [r["event"] for r in rows] == ["accepted", "retry", "retry", "error", "finished"]
    assert [r["attempt"] for r in rows[1:4]] == [1, 2, 3]
    assert result.status is ParentStatus.FAILED and rig.broker.place_calls == 3


def test_asynchronous_rms_rejection_ends_the_child_and_fails_the_parent(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        _, future = rig.engine.submit(make_request(order_type="LIMIT", limit_price=99.0))
        import time

        deadline = time.monotonic() + 5
        while not rig.broker.orders() and time.monotonic() < deadline:
            time.sleep(0.005)
        rig.broker.reject(rig.broker.orders()[0].order_id,
                          "RMS:Margin Exceeds,Required:95417.84, Available:74251.80")
        result = future.result(5)
    finally:
        rig.close()
    rows = rig.file_rows()
    rejected = [r for r in rows if r["event"] == "rejected"]
    assert len(rejected) == 1 and rejected[0]["error_bucket"] == "risk"
    assert result.status is ParentStatus.FAILED
    assert_books_balance(rows, 130)
