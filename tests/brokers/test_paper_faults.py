"""Every fault kind, reachable from configuration, as the engine will meet it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace

import pytest
from pydantic import ValidationError

from imperium_exec.brokers.base import BrokerOrder, OrderInstruction, OrderStatus
from imperium_exec.brokers.errors import (
    BrokerTimeout,
    DataException,
    GeneralException,
    NetworkException,
)
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ErrorBucket
from imperium_exec.request import OrderType, Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.sim.config import FaultConfig, FaultKind, LatencyConfig
from imperium_exec.sim.faults import ORDER_TIMED_OUT

SYMBOL = "NIFTY26D0126000CE"
LOT = 65
POLICY = RetryPolicy()


def make(faults: FaultConfig, clock: VirtualClock | None = None,
         **kw: object) -> tuple[PaperBroker, VirtualClock]:
    clock = clock or VirtualClock()
    return PaperBroker(clock=clock, seed=3, faults=faults, **kw), clock  # type: ignore[arg-type]



def buy(tag: str = "c1", price: float | None = None) -> OrderInstruction:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderInstruction(SYMBOL, "NFO", Side.BUY, LOT, kind, price, "NRML", "DAY", tag,
                            market_protection=-1 if price is None else None)


def by_tag(broker: PaperBroker, tag: str) -> list[BrokerOrder]:
    return [o for o in broker.orders() if o.tag == tag]


def script(*kinds: FaultKind, **kw: object) -> FaultConfig:
    return FaultConfig(script=kinds, **kw)


def test_timeout_before_sending_leaves_no_order() -> None:
    broker, _ = make(script(FaultKind.TIMEOUT_BEFORE_SEND))
    with pytest.raises(BrokerTimeout) as info:
        broker.place_order(buy())
    assert info.value.sent is False
    verdict = POLICY.classify(info.value)
    assert (verdict.bucket, verdict.ambiguous) == (ErrorBucket.TRANSIENT, False)
    assert broker.orders() == []
    broker.place_order(buy("c2"))  # the script is used up: the next request goes through
    assert [o.tag for o in broker.orders()] == ["c2"]


def test_ghost_order_appears_in_the_order_book_after_the_timeout() -> None:
    broker, _ = make(script(FaultKind.GHOST))
    with pytest.raises(BrokerTimeout) as info:
        broker.place_order(buy("ghost1"))
    assert info.value.sent is True
    assert POLICY.classify(info.value).ambiguous
    [ghost] = by_tag(broker, "ghost1")
    assert (ghost.status, ghost.filled_quantity) == (OrderStatus.COMPLETE, LOT)
    assert len(broker.trades()) == 1  # a naive retry would now buy twice


def test_server_and_gateway_errors_record_nothing() -> None:
    broker, _ = make(script(FaultKind.SERVER_ERROR, FaultKind.GATEWAY_ERROR))
    with pytest.raises(NetworkException) as server:
        broker.place_order(buy("a"))
    assert server.value.code == 503
    with pytest.raises(DataException) as gateway:
        broker.place_order(buy("b"))
    assert gateway.value.code == 502 and "text/html" in str(gateway.value)
    for exc in (server.value, gateway.value):
        verdict = POLICY.classify(exc)
        assert (verdict.bucket, verdict.ambiguous) == (ErrorBucket.TRANSIENT, True)
    assert broker.orders() == []


def test_order_request_timed_out_answer_whose_order_appears_later() -> None:
    broker, clock = make(script(FaultKind.DELAYED_ORDER, delayed_order_s=8.0))
    with pytest.raises(GeneralException) as info:
        broker.place_order(buy("late1"))
    assert (info.value.code, str(info.value)) == (400, ORDER_TIMED_OUT)
    assert POLICY.classify(info.value).ambiguous
    clock.jump(7.0)
    assert by_tag(broker, "late1") == []  # not there yet: a reconcile now finds nothing
    clock.jump(1.0)
    [late] = by_tag(broker, "late1")
    assert late.status is OrderStatus.COMPLETE
    assert late.exchange_timestamp == pytest.approx(clock.now())


def test_the_engine_watches_an_unknown_attempt_as_long_as_the_exchange_can_be_late() -> None:
    """The exchange knows its slowest order: a delayed one's delay, the way there and back at
    the latency's cap, and the reads. The engine watches an attempt of unknown outcome that
    long on paper (not Kite's 15 minutes), never longer than its own setting."""
    faults = FaultConfig(delayed_order_s=8.0, latency=LatencyConfig(median_ms=5.0, max_ms=500.0))
    broker = PaperBroker(clock=VirtualClock(), faults=faults)
    assert broker.capabilities.late_order_window_s == pytest.approx(8.0 + 1.0 + 5.0)
    engine = ExecutionEngine(broker, mode="paper", clock=broker.clock)
    try:
        assert engine.orders.config.late_order_watch_s == pytest.approx(14.0)
    finally:
        engine.shutdown(5.0)
    other = PaperBroker(clock=VirtualClock(), faults=faults)
    engine = ExecutionEngine(other, mode="paper", clock=other.clock,
                             config=EngineConfig(late_order_watch_s=10.0))
    try:
        assert engine.orders.config.late_order_watch_s == 10.0
    finally:
        engine.shutdown(5.0)


def test_stuck_pending_order_reaches_the_exchange_late() -> None:
    broker, clock = make(script(FaultKind.STUCK_PENDING, stuck_pending_s=90.0))
    order_id = broker.place_order(buy("stuck"))
    clock.jump(89.0)
    [pending] = by_tag(broker, "stuck")
    assert (pending.order_id, pending.status) == (order_id, OrderStatus.PENDING)
    assert pending.pending_quantity == LOT
    clock.jump(1.0)
    assert by_tag(broker, "stuck")[0].status is OrderStatus.COMPLETE


def test_cancelling_a_stuck_order_cancels_it_when_it_would_have_arrived() -> None:
    broker, clock = make(script(FaultKind.STUCK_PENDING, stuck_pending_s=90.0))
    order_id = broker.place_order(buy("stuck"))
    broker.cancel_order(order_id)
    clock.jump(30.0)
    assert by_tag(broker, "stuck")[0].status is OrderStatus.PENDING
    clock.jump(60.0)
    cancelled = by_tag(broker, "stuck")[0]
    assert (cancelled.status, cancelled.filled_quantity) == (OrderStatus.CANCELLED, 0)
    assert broker.trades() == []


def test_fault_rates_pick_faults_with_a_seed() -> None:
    faults = FaultConfig(ghost_rate=0.2, server_error_rate=0.1, stuck_pending_rate=0.1,
                         timeout_before_send_rate=0.1, gateway_error_rate=0.05,
                         delayed_order_rate=0.05)

    def outcomes() -> list[str]:
        broker, clock = make(faults)
        seen = []
        for n in range(100):
            try:
                broker.place_order(buy(f"r{n}", price=0.05))
                seen.append("ok")
            except Exception as exc:  # record which fault it was
                seen.append(type(exc).__name__ + str(getattr(exc, "sent", "")))
            clock.jump(0.2)
        return seen

    first, second = outcomes(), outcomes()
    assert first == second  # the same calls meet the same faults
    counts = {kind: first.count(kind) for kind in set(first)}
    assert set(counts) == {"ok", "BrokerTimeoutTrue", "BrokerTimeoutFalse", "NetworkException",
                           "DataException", "GeneralException"}
    assert 30 <= counts["ok"] <= 60  # 50 % expected (stuck orders also answer with an id)
    assert 10 <= counts["BrokerTimeoutTrue"] <= 32


def test_rates_adding_up_to_more_than_one_are_refused() -> None:
    with pytest.raises(ValidationError, match="more than 1"):
        FaultConfig(ghost_rate=0.6, server_error_rate=0.5)


def test_faults_do_not_change_the_market_path() -> None:
    faulty, clock_a = make(FaultConfig(ghost_rate=0.5, latency=LatencyConfig(median_ms=80.0)))
    clean, clock_b = make(FaultConfig())
    for n in range(5):
        with contextlib.suppress(BrokerTimeout):
            faulty.place_order(buy(f"f{n}", price=0.05))
    for clock in (clock_a, clock_b):
        clock.jump(120.0)
    other = "NIFTY26D0126100PE"
    assert faulty.quote(other) == clean.quote(other)


# ---------------------------------------------------------------- latency


def test_virtual_latency_delays_arrival_without_sleeping() -> None:
    faults = FaultConfig(latency=LatencyConfig(median_ms=400.0, sigma=0.0))
    broker, clock = make(faults)
    started = time.perf_counter()
    order_id = broker.place_order(buy("lat"))
    assert time.perf_counter() - started < 0.2  # no sleeping on a virtual clock
    assert by_tag(broker, "lat")[0].status is OrderStatus.PENDING
    placed = clock.now()
    clock.jump(0.5)
    done = by_tag(broker, "lat")[0]
    assert (done.order_id, done.status) == (order_id, OrderStatus.COMPLETE)
    assert done.exchange_timestamp == pytest.approx(placed + 0.4)


def test_latency_draws_are_seeded() -> None:
    faults = FaultConfig(latency=LatencyConfig(median_ms=50.0, sigma=0.8))
    a, _ = make(faults)
    b, _ = make(faults)
    draws_a = [a.exchange.faults.latency_s() for _ in range(20)]
    draws_b = [b.exchange.faults.latency_s() for _ in range(20)]
    assert draws_a == draws_b and len(set(draws_a)) == 20
    assert all(0 < d <= 2.0 for d in draws_a)


def test_real_clock_latency_and_timeouts_block_the_caller() -> None:
    faults = FaultConfig(latency=LatencyConfig(median_ms=30.0, sigma=0.0),
                         script=(FaultKind.NONE, FaultKind.GHOST), client_timeout_s=0.05)
    broker = PaperBroker(seed=3, faults=faults)
    assert isinstance(broker.clock, RealClock)
    # Today's chain: pick the at-the-money call of the nearest expiry.
    view = broker.option_chain(strikes_each_side=0)
    symbol = view.rows[0].call.tradingsymbol
    started = time.perf_counter()
    broker.place_order(replace(buy("real1"), tradingsymbol=symbol))
    assert time.perf_counter() - started >= 0.03
    started = time.perf_counter()
    with pytest.raises(BrokerTimeout):
        broker.place_order(replace(buy("real2"), tradingsymbol=symbol))
    assert time.perf_counter() - started >= 0.08  # latency, then the client's read timeout
    assert [o.tag for o in broker.orders()] == ["real1", "real2"]
