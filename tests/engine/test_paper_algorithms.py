"""The execution engine's algorithms end to end against the paper exchange, in virtual time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from imperium_exec.brokers.base import OrderStatus
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from imperium_exec.events import ParentStatus
from imperium_exec.request import ExecutionRequest
from imperium_exec.sim.config import FaultConfig, FaultKind, MarketConfig, UnderlyingMarket

SYMBOL = "NIFTY26D0126000CE"
LOT = 65
QUANTITY = 27 * LOT  # one freeze-limited order's worth


def thin_market() -> MarketConfig:
    """Two lots at the touch and an index that does not drift: the same path for every run,
    so what differs between algorithms is only what their own orders did."""
    nifty = UnderlyingMarket(spot=26_000.0, annual_vol=1e-6, implied_vol=0.13)
    return MarketConfig(underlyings={"NIFTY": nifty}, depth_lots=2.0, depth_noise=0.0)


@dataclass
class Run:
    result: ExecutionResult
    broker: PaperBroker
    clock: VirtualClock
    arrival_mid: float
    wall_s: float
    finished_after_s: float  # virtual seconds from submit to the parent's end (markouts go on)

    @property
    def cost_per_unit(self) -> float:
        """What a buy paid above the mid at arrival (implementation shortfall per unit)."""
        return self.result.average_price - self.arrival_mid


def execute(algo: str, *, faults: FaultConfig | None = None, seed: int = 7,
            **policy: object) -> Run:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=seed, market=thin_market(),
                         faults=faults or FaultConfig())
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    fields: dict[str, object] = dict(
        tradingsymbol=SYMBOL, exchange="NFO", side="BUY", quantity=QUANTITY, lot_size=LOT,
        tick_size=0.05, freeze_quantity=1800, bid=quote.bid, ask=quote.ask, ltp=quote.ltp,
        execution_algo=algo, seed=seed)
    if algo != "IMMEDIATE":
        fields.update(horizon_s=600.0, max_child_orders=9)
    fields.update(policy)
    request = ExecutionRequest.model_validate(fields)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, config=EngineConfig(id_seed=1))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    started = time.perf_counter()
    try:
        _, future = engine.submit(request)
        result = future.result(timeout=60.0)
    finally:
        engine.shutdown(10.0)
    times = {r["event"]: r["ts"] for r in rows}  # (the virtual clock runs on to the markouts)
    return Run(result, broker, clock, (quote.bid + quote.ask) / 2.0,
               time.perf_counter() - started, times["finished"] - times["accepted"])


def assert_no_leaks(run: Run) -> None:
    """What the engine reports is what the exchange traded, and every order is finished."""
    trades = run.broker.trades()
    traded = sum(t.quantity for t in trades)
    assert run.result.filled_quantity == traded
    if traded:
        vwap = sum(t.quantity * t.price for t in trades) / traded
        assert run.result.average_price == pytest.approx(vwap, abs=1e-6)
    assert all(o.status.is_terminal for o in run.broker.orders())


@pytest.mark.parametrize("algo", ["IMMEDIATE", "TWAP", "VWAP", "POV", "IS"])
def test_every_algorithm_runs_end_to_end_in_virtual_time(algo: str) -> None:
    run = execute(algo)
    assert run.result.status is ParentStatus.FILLED
    assert run.result.filled_quantity == QUANTITY
    assert_no_leaks(run)
    if algo == "IMMEDIATE":
        assert run.finished_after_s < 5.0
        assert len(run.broker.orders()) == 1
    else:
        assert 60.0 < run.finished_after_s <= 660.0  # spread over the ten-minute horizon
    if algo in ("TWAP", "VWAP", "IS"):
        assert len(run.broker.orders()) >= 2  # sliced (POV may rest one child and let it fill)
    assert run.wall_s < 5.0


def test_a_large_immediate_order_in_a_thin_market_costs_more_than_twap() -> None:
    immediate = execute("IMMEDIATE")
    twap = execute("TWAP")
    # IMMEDIATE sweeps level after level of a two-lot book; TWAP's slices fit the touch and
    # the book recovers between them.
    prices = sorted({t.price for t in immediate.broker.trades()})
    assert len(prices) >= 5
    assert immediate.cost_per_unit > twap.cost_per_unit + 0.2
    assert immediate.result.average_price > twap.result.average_price


@pytest.mark.parametrize("kind", [k for k in FaultKind if k is not FaultKind.NONE])
def test_the_engine_gets_through_every_fault_kind_without_double_fills(kind: FaultKind) -> None:
    run = execute("TWAP", faults=FaultConfig(script=(kind,), stuck_pending_s=30.0))
    assert run.result.status is ParentStatus.FILLED
    assert run.result.filled_quantity == QUANTITY
    assert_no_leaks(run)


def test_the_engine_gets_through_a_storm_of_random_faults() -> None:
    faults = FaultConfig(ghost_rate=0.15, server_error_rate=0.1, gateway_error_rate=0.05,
                         delayed_order_rate=0.1, timeout_before_send_rate=0.1,
                         stuck_pending_rate=0.05, stuck_pending_s=20.0)
    run = execute("TWAP", faults=faults)
    assert run.result.filled_quantity <= QUANTITY
    assert_no_leaks(run)
    assert run.result.status in (ParentStatus.FILLED, ParentStatus.PARTIAL)
    assert any(o.status is OrderStatus.COMPLETE for o in run.broker.orders())
