"""Regressions from the live-path review: each guards a way an order could stay live unseen,
a parent could wait for nothing, or a child could be priced from stale data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import make_request, make_rig

from imperium_exec.brokers.base import Quote
from imperium_exec.brokers.errors import BrokerTimeout, OrderException, TokenException
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.engine.rate_budget import AccountRateLimits
from imperium_exec.events import ParentStatus
from imperium_exec.risk import RiskRefusal
from imperium_exec.router import SmartOrderRouter


class BusyOnce(InMemoryBroker):
    """Kite's brief refusal of a cancel while the order is being processed, once."""

    busy = 1

    def cancel_order(self, order_id: str) -> None:
        if self.busy:
            self.busy -= 1
            self.cancel_calls += 1
            raise OrderException("Order cannot be cancelled as it is being processed. "
                                 "Try later.", 400)
        super().cancel_order(order_id)


def test_a_cancel_refused_while_the_order_is_being_processed_is_sent_again(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, broker_type=BusyOnce)
    parent_id, future = rig.engine.submit(make_request(order_type="LIMIT", limit_price=99.0))
    deadline = time.monotonic() + 5
    while not rig.broker.orders() and time.monotonic() < deadline:
        time.sleep(0.01)
    rig.engine.cancel(parent_id)
    result = future.result(10)
    rig.close()
    assert result.status is ParentStatus.CANCELLED
    assert rig.broker.cancel_calls == 2
    assert all(o.status.is_terminal for o in rig.broker.orders())


class ExpiresOnRead(InMemoryBroker):
    def orders(self) -> list[Any]:
        raise TokenException("Token is invalid or has expired.", 403)


def test_a_session_lost_while_reconciling_reports_the_attempt_unknown_never_unsent() -> None:
    broker = ExpiresOnRead(clock=RealClock())
    # The order reaches the broker but its reply times out; reading the book for its tag
    # finds the session gone.
    broker.fail_next(BrokerTimeout("read timed out", sent=True), record=True)
    engine = ExecutionEngine(broker, config=EngineConfig(id_seed=1))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    _, future = engine.submit(make_request(order_type="MARKET", execution_urgency="high"))
    deadline = time.monotonic() + 15
    while not any(r["event"] == "paused" for r in list(rows)) and time.monotonic() < deadline:
        time.sleep(0.01)  # halted by the lost session: held until a new login or shutdown
    engine.shutdown(2)
    result = future.result(0)
    child_rows = [r for r in rows if r["child_id"]]
    assert not any((r["message"] or "").startswith("not sent") for r in child_rows)
    (unknown,) = [r for r in child_rows if r["status"] == "unknown"]
    (session,) = [r for r in rows if r["event"] == "session"]
    assert unknown["tag"] in session["message"]  # the tag to look for, said once
    assert result.status is ParentStatus.FAILED and unknown["tag"] in (result.message or "")


class NoQuotes(InMemoryBroker):
    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        raise TimeoutError("quote feed stalled")


def test_cancel_wakes_a_parent_that_waits_for_a_quote() -> None:
    engine = ExecutionEngine(NoQuotes(clock=RealClock()),
                             config=EngineConfig(id_seed=1, quote_wait_s=3.0))
    _, future = engine.submit(make_request(order_type="MARKET"))
    time.sleep(0.3)
    cancelled_at = time.monotonic()
    engine.cancel_all()
    result = future.result(10)
    took = time.monotonic() - cancelled_at
    engine.shutdown(2)
    assert took < 1.0 and result.status is ParentStatus.CANCELLED


def test_a_fresh_one_sided_quote_is_never_completed_from_the_ticket() -> None:
    request = make_request(execution_algo="TWAP", order_type="LIMIT", limit_price=120.0,
                           horizon_s=60)  # ticket: 100.0 / 100.5
    fresh = Quote(tradingsymbol=request.tradingsymbol, timestamp=0.0, bid=110.0, ask=None,
                  ltp=110.0, volume=0)  # the market moved to 110 bid, no offers
    decision = SmartOrderRouter().decide(request, fresh)
    assert decision.ask is None and decision.bid == 110.0


def test_the_days_write_limit_fails_the_parent_clearly_not_as_an_internal_error() -> None:
    limits = AccountRateLimits(writes_per_day=102, cancel_reserve_per_day=100)
    broker = InMemoryBroker(clock=RealClock())
    # The first attempt never leaves this machine: its retry spends a write nobody planned.
    broker.fail_next(BrokerTimeout("connect timed out", sent=False))
    engine = ExecutionEngine(broker, config=EngineConfig(id_seed=1, rate_limits=limits))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    # Two placements left, one planned by each: both are admitted; the retry takes the other
    # parent's, so one of them finds the day used up when it places.
    futures = [engine.submit(make_request(order_type="MARKET", execution_urgency="high"))[1]
               for _ in range(2)]
    results = [future.result(5) for future in futures]
    (last,) = [r for r in results if r.status is ParentStatus.FAILED]
    assert "internal error" not in (last.message or "")
    (error,) = [r for r in rows if r["parent_id"] == last.parent_id and r["event"] == "error"]
    assert error["error_bucket"] == "fatal" and "limit" in error["error"]
    with pytest.raises(RiskRefusal, match="orders today: 1 child orders planned but the "
                                          "broker allows 0 more placements today"):
        engine.submit(make_request(order_type="MARKET", execution_urgency="high"))
    engine.shutdown(2)
