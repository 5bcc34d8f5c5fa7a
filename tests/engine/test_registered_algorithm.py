"""An algorithm registered from outside the package runs on the paper exchange with no edit to
the engine: ``algos/`` (its interface and registry) is the only room an algorithm needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from engine_support import assert_books_balance

from imperium_exec.algos.base import (
    NO_REACTION,
    Algorithm,
    DueSlice,
    PlanInputs,
    Reaction,
    RunningParent,
    Weights,
)
from imperium_exec.algos.registry import algorithm_for, register_algorithm, unregister_algorithm
from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.request import ExecutionRequest, RequestError
from imperium_exec.sim.config import MarketConfig, UnderlyingMarket

SYMBOL = "NIFTY26D0126000CE"
LOT = 65


class OneLotShown(Algorithm):
    """A toy iceberg: one lot works at a time; the next goes out when it has filled."""

    algo: ClassVar[str] = "TOY_ICEBERG"

    def slice_count(self, inputs: PlanInputs, length_s: float) -> int:
        return 1

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return np.ones(1, dtype=np.float64)

    def size_slice(self, parent: RunningParent, due: DueSlice) -> int:
        return min(parent.request.lot_size, due.free)

    def react(self, parent: RunningParent, now: float) -> Reaction:
        if parent.working == 0 and parent.remaining > 0:
            return Reaction(send=parent.request.lot_size)
        return NO_REACTION


@pytest.fixture(autouse=True)
def registered_toy() -> Iterator[None]:
    register_algorithm(OneLotShown())
    yield
    unregister_algorithm("TOY_ICEBERG")


def run_toy(lots: int) -> tuple[Any, PaperBroker, list[dict[str, Any]]]:
    clock = VirtualClock()
    market = MarketConfig(underlyings={"NIFTY": UnderlyingMarket(
        spot=26_000.0, annual_vol=1e-6, implied_vol=0.13)}, depth_lots=2.0, depth_noise=0.0)
    broker = PaperBroker(clock=clock, seed=3, market=market)
    quote = broker.quote(SYMBOL)
    assert quote is not None
    request = ExecutionRequest.from_payload({
        "tradingsymbol": SYMBOL, "exchange": "NFO", "transaction_type": "BUY",
        "quantity": lots * LOT, "order_type": "MARKET", "product": "NRML",
        "bid": quote.bid, "ask": quote.ask, "ltp": quote.ltp,
        "execution_algo": "toy_iceberg", "execution_urgency": "high",
        "execution_horizon_s": 600})
    engine = ExecutionEngine(broker, mode="paper", clock=clock, config=EngineConfig(id_seed=5))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    try:
        _, future = engine.submit(request)
        result = future.result(timeout=60.0)
    finally:
        engine.shutdown(10.0)
    return result, broker, rows


def test_a_registered_fill_driven_algorithm_runs_to_completion_one_lot_at_a_time() -> None:
    result, broker, rows = run_toy(5)

    assert result.status is ParentStatus.FILLED and result.filled_quantity == 5 * LOT
    orders = broker.orders()
    assert [o.quantity for o in orders] == [LOT] * 5
    assert all(o.status.is_terminal for o in orders)
    # Never more than one lot at the exchange: each child is placed after the one before ended.
    working = 0
    for row in (r for r in rows if r["child_id"] is not None):
        if row["event"] == "placed":
            working += 1
            assert working == 1, "a second lot went out while one was still working"
        elif row["event"] in ("filled", "cancelled", "rejected") and row["status"] != "partial":
            working -= 1
    assert_books_balance(rows, 5 * LOT)
    assert {r["execution_algo"] for r in rows if r["execution_algo"]} == {"TOY_ICEBERG"}


def test_a_registered_name_is_accepted_and_an_unknown_one_names_the_known() -> None:
    assert algorithm_for("TOY_ICEBERG").algo == "TOY_ICEBERG"
    payload = {"tradingsymbol": SYMBOL, "exchange": "NFO", "transaction_type": "BUY",
               "quantity": LOT, "order_type": "MARKET", "execution_algo": "SNIPER"}
    with pytest.raises(RequestError) as info:
        ExecutionRequest.from_payload(payload)
    assert "execution_algo: 'SNIPER' is not allowed: not an execution algorithm" in str(info.value)
    assert "TOY_ICEBERG" in str(info.value) and "TWAP" in str(info.value)


def test_an_unregistered_algorithm_is_refused_again() -> None:
    unregister_algorithm("TOY_ICEBERG")
    with pytest.raises(RequestError, match="execution_algo: 'TOY_ICEBERG' is not allowed"):
        ExecutionRequest.from_payload({
            "tradingsymbol": SYMBOL, "exchange": "NFO", "transaction_type": "BUY",
            "quantity": LOT, "order_type": "MARKET", "execution_algo": "TOY_ICEBERG"})


class AlwaysOneMore(Algorithm):
    """Asks for one more lot at every change, even when nothing is left to send."""

    algo: ClassVar[str] = "TOY_GREEDY"

    def slice_count(self, inputs: PlanInputs, length_s: float) -> int:
        return 1

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return np.ones(1, dtype=np.float64)

    def react(self, parent: RunningParent, now: float) -> Reaction:
        return Reaction(send=parent.request.lot_size)


def test_an_algorithm_asking_for_more_than_is_left_never_freezes_the_engine() -> None:
    register_algorithm(AlwaysOneMore())
    try:
        clock = VirtualClock()
        broker = PaperBroker(clock=clock, seed=3)
        quote = broker.quote(SYMBOL)
        assert quote is not None
        request = ExecutionRequest.from_payload({
            "tradingsymbol": SYMBOL, "exchange": "NFO", "transaction_type": "BUY",
            "quantity": 2 * LOT, "order_type": "MARKET", "execution_algo": "TOY_GREEDY",
            "execution_urgency": "high", "execution_horizon_s": 60,
            "bid": quote.bid, "ask": quote.ask, "ltp": quote.ltp})
        engine = ExecutionEngine(broker, mode="paper", clock=clock,
                                 config=EngineConfig(id_seed=9, markout_horizons_s=()))
        rows: list[dict[str, Any]] = []
        engine.add_listener(rows.append)
        try:
            _, future = engine.submit(request)
            result = future.result(timeout=20.0)  # (spun forever on the loop before)
        finally:
            engine.shutdown(10.0)
    finally:
        unregister_algorithm("TOY_GREEDY")
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 2 * LOT
    assert sum(o.filled_quantity for o in broker.orders()) == 2 * LOT
    assert {type(r["execution_algo"]) for r in rows if r["execution_algo"]} == {str}
