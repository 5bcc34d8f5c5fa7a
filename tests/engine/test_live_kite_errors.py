"""Kite's error answers through the whole live path: the engine, KiteBroker on the real
kiteconnect client, the fake Kite server (REST; the engine and the fake share a virtual clock,
so Kite's limits are counted in its calendar seconds and the retry waits and reconcile windows
cost no real time).

What these guard (issue 21): an order the exchange holds is never reported as failed because
its answer was a 5xx of some shape (it is found by its tag, reported filled, never sent
twice); a 429 in any shape is waited out as a throttle; a ``MarginException`` or
``HoldingException`` ends in the ``risk`` bucket after one attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
from kiteconnect import KiteConnect

from imperium_exec.brokers import KiteBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from imperium_exec.engine.rate_budget import AccountRateLimits, Lane
from imperium_exec.events import ErrorBucket, ParentStatus
from imperium_exec.request import ExecutionRequest
from imperium_exec.retry import BucketPolicy, RetryPolicy
from imperium_exec.testing import BodyShape, FakeKiteServer, Fault

SYMBOL = "NIFTY26D0125000CE"
LOT = 65


def fast_policy(reconcile_window_s: float = 2.0) -> RetryPolicy:
    """Kite's buckets with short waits (the classification is the real one)."""
    policies = {
        ErrorBucket.TRANSIENT: BucketPolicy(max_retries=3, base_delay_s=0.05, max_delay_s=0.1),
        ErrorBucket.THROTTLE: BucketPolicy(max_retries=5, base_delay_s=0.1, max_delay_s=0.2),
        ErrorBucket.RISK: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
        ErrorBucket.FATAL: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
    }
    return RetryPolicy(policies=policies, jitter=0.0, reconcile_window_s=reconcile_window_s,
                       reconcile_interval_s=0.1)


@dataclass
class Desk:
    server: FakeKiteServer
    engine: ExecutionEngine
    clock: VirtualClock
    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)

    def events(self) -> list[str]:
        with self.lock:
            return [r["event"] for r in self.rows]

    def row(self, event: str) -> dict[str, Any]:
        with self.lock:
            return next(r for r in self.rows if r["event"] == event)

    def buy_one_lot(self) -> Future[ExecutionResult]:
        """One lot, IMMEDIATE, at the market; time runs from its submission."""
        request = ExecutionRequest.model_validate(dict(
            tradingsymbol=SYMBOL, exchange="NFO", side="BUY", quantity=LOT, lot_size=LOT,
            tick_size=0.05, freeze_quantity=1800, bid=100.0, ask=100.5,
            execution_algo="IMMEDIATE"))
        future = self.engine.submit(request)[1]
        self.clock.run_freely()
        return future


#: Kite's limits, the write lane shut 0.1 s after a 429 (the desk's 1 s is the same code path).
QUICK_THROTTLE_PAUSE = AccountRateLimits(throttle_pause_s=0.1)


@pytest.fixture
def desk(request: pytest.FixtureRequest) -> Iterator[Desk]:
    window: float = getattr(request, "param", 2.0)  # indirect: the reconcile window
    clock = VirtualClock(auto_advance=False)  # still until the test's parent is in
    server = FakeKiteServer(clock=clock.now).start()
    server.set_quote(SYMBOL, bid=100.0, ask=100.5)
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
    # No ticker: its heartbeats and silence watchdog run on real time; fills and the orders an
    # ambiguous answer may have placed are read from the order book.
    broker = KiteBroker(kite, ticker_root=None)
    engine = ExecutionEngine(broker, mode="live", clock=clock,
                             retry_policy=fast_policy(window),
                             config=EngineConfig(poll_interval_s=0.05, cancel_timeout_s=3.0,
                                                 rate_limits=QUICK_THROTTLE_PAUSE))
    desk = Desk(server, engine, clock)
    engine.add_listener(desk.collect)
    yield desk
    clock.run_freely()
    engine.shutdown(5.0)
    server.stop()


FIVE_HUNDREDS = [(500, shape) for shape in BodyShape] + [
    (status, shape) for status in (502, 503, 504) for shape in (BodyShape.JSON, BodyShape.HTML)]


@pytest.mark.parametrize(("status", "shape"), FIVE_HUNDREDS, ids=lambda v: str(v))
def test_an_order_recorded_then_answered_with_a_5xx_is_found_by_its_tag_and_reported_filled(
        desk: Desk, status: int, shape: BodyShape) -> None:
    desk.server.fail_next("place", Fault.answer(status, shape, error_type="OrderException",
                                                message="Order could not be placed.",
                                                record=True))
    result = desk.buy_one_lot().result(15.0)
    assert result.status is ParentStatus.FILLED, result.message
    assert (result.filled_quantity, result.unfilled_quantity) == (LOT, 0)
    (order,) = desk.server.recorded_orders()  # the exchange filled one order: no second one
    assert order["filled_quantity"] == LOT
    assert result.order_ids == (order["order_id"],)
    assert len(desk.server.requests_to("place")) == 1
    events = desk.events()
    assert "error" not in events and "retry" not in events
    assert events.index("reconciling") < events.index("reconciled") < events.index("filled")
    reconciled = desk.row("reconciled")
    assert reconciled["ambiguous"] is True and reconciled["tag"] == order["tag"]


@pytest.mark.parametrize("desk", [0.5], indirect=True)
@pytest.mark.parametrize("shape", [BodyShape.JSON_UNTYPED, BodyShape.HTML, BodyShape.EMPTY])
def test_a_5xx_that_placed_nothing_is_sent_again_once_after_the_look_up(
        desk: Desk, shape: BodyShape) -> None:
    desk.server.fail_next("place", Fault.answer(500, shape, message="Internal error"))
    result = desk.buy_one_lot().result(15.0)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == LOT
    assert len(desk.server.recorded_orders()) == 1
    assert len(desk.server.requests_to("place")) == 2
    events = desk.events()
    assert events.index("reconciling") < events.index("retry") < events.index("placed")


@pytest.mark.parametrize("shape", list(BodyShape), ids=str)
def test_a_429_in_any_shape_is_retried_as_a_throttle(desk: Desk, shape: BodyShape) -> None:
    desk.server.fail_next("place", Fault.answer(429, shape, error_type="NetworkException",
                                                message="Too many requests"))
    result = desk.buy_one_lot().result(15.0)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == LOT
    retry = desk.row("retry")
    assert (retry["error_bucket"], retry["ambiguous"]) == ("throttle", False)
    assert "reconciling" not in desk.events()
    assert len(desk.server.requests_to("place")) == 2
    assert len(desk.server.recorded_orders()) == 1
    assert desk.engine.gateway.throttled[Lane.WRITE] == 1  # the budget was told


@pytest.mark.parametrize(("error_type", "message"), [
    ("MarginException", "Order rejected"),  # the type decides, not the text
    ("MarginException", "Insufficient funds. Required margin is 95417.84 but available margin "
                        "is 74251.80. Check the orderbook for open orders."),
    ("HoldingException", "Order rejected"),
])
def test_a_margin_or_holding_exception_ends_in_the_risk_bucket_after_one_attempt(
        desk: Desk, error_type: str, message: str) -> None:
    desk.server.fail_next("place", Fault.answer(400, BodyShape.JSON, error_type=error_type,
                                                message=message))
    result = desk.buy_one_lot().result(15.0)
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert desk.events() == ["accepted", "error", "finished"]
    error = desk.row("error")
    assert error["error_bucket"] == "risk" and error["ambiguous"] is False
    assert error["error"] == f"{error_type}: {message}"
    assert len(desk.server.requests_to("place")) == 1 and desk.server.recorded_orders() == []
