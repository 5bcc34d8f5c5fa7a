"""The finished row's implementation shortfall, from a real run on the paper exchange: its
parts add up to the whole computed from the fill rows, and its fees are the fills' fees."""

from __future__ import annotations

from typing import Any

import pytest

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest, Side


def run(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=4, margin=1e10)
    # No markouts: one parent after another, the same market every run (see clock.py).
    engine = ExecutionEngine(broker, mode="paper", clock=clock,
                             config=EngineConfig(id_seed=2, markout_horizons_s=()))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    chain = broker.option_chain("NIFTY", strikes_each_side=3)
    atm = [r.strike for r in chain.rows].index(chain.atm_strike)
    try:
        for fields in requests:
            row = chain.rows[atm + fields.pop("offset")]
            quote = row.call
            _, future = engine.submit(ExecutionRequest.model_validate(dict(
                tradingsymbol=quote.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, **fields)))
            future.result(timeout=60)
    finally:
        engine.shutdown(10.0)
    return rows


def test_the_finished_rows_shortfall_adds_up_to_its_fills() -> None:
    rows = run([
        dict(offset=0, side="BUY", quantity=650, execution_algo="TWAP", max_child_orders=5,
             horizon_s=60.0),
        dict(offset=1, side="SELL", quantity=390, execution_algo="IS", max_child_orders=3,
             horizon_s=30.0),
        # A limit far below the market: most of it never fills (opportunity cost).
        dict(offset=0, side="BUY", quantity=650, order_type="LIMIT", limit_price=0.05,
             execution_algo="TWAP", max_child_orders=2, horizon_s=10.0),
    ])
    finished = [r for r in rows if r["event"] == "finished"]
    assert len(finished) == 3
    for f in finished:
        fills = [r for r in rows if r["event"] == "filled" and r["parent_id"] == f["parent_id"]]
        s = Side(f["side"]).sign
        filled = sum(r["filled_quantity"] for r in fills)
        assert filled == f["filled_quantity"]
        assert f["fees"] == pytest.approx(sum(r["fees"] for r in fills))
        d, end = f["decision_price"], f["end_price"]
        whole = s * (sum(r["filled_quantity"] * r["fill_price"] for r in fills) - filled * d) \
            + s * (f["quantity"] - filled) * (end - d) + f["fees"]
        parts = f["is_delay"] + f["is_spread"] + f["is_drift"] + f["is_opportunity"] + f["fees"]
        assert parts == pytest.approx(whole, rel=1e-6, abs=1e-6)
    unfilled = finished[2]
    assert unfilled["filled_quantity"] < unfilled["quantity"]
    assert unfilled["is_opportunity"] != 0.0  # the market moved away from the decision
    assert finished[0]["is_spread"] > 0  # a buy pays the spread
