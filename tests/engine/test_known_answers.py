"""Known answers on the paper exchange: costs put in through its configuration come back out of
the rows the engine writes (the reference's G4 tests, run through the whole engine).

The market here is built so that nothing but the injected costs moves a price: the index
stands still, interest is zero and the implied volatility is tiny, so an in-the-money option is
worth exactly its intrinsic value (on the tick grid, with no time decay), with the same spread,
depth and volume at every strike. Each parent trades its own contract, so one parent's impact
never shows in another's prices. What is left is the tick grid, which rounds each quoted price
to 0.05: the estimates below average over many fills.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.engine.markouts import HORIZONS_S
from imperium_exec.request import ExecutionRequest, Side
from imperium_exec.sim.config import (
    AdverseSelectionConfig,
    ImpactConfig,
    MarketConfig,
    PaperConfig,
    UnderlyingMarket,
)

SEED = 23
TICK = 0.05
#: Our impact when it is on: rupees per unit, for good and for a while (half-life 30 s).
PERMANENT, TEMPORARY, HALF_LIFE_S = 2e-4, 1e-3, 30.0


def flat_market(spread_ticks: int) -> MarketConfig:
    """A market where in-the-money options sit still at their intrinsic value, quoting exactly
    ``spread_ticks`` wide with deep books (no child ever empties the touch)."""
    nifty = UnderlyingMarket(spot=26_000.0, annual_vol=1e-12, implied_vol=1e-6)
    return MarketConfig(underlyings={"NIFTY": nifty}, rate=0.0, spread_fraction=0.0,
                        min_spread_ticks=spread_ticks, spread_widening=0.0,
                        depth_lots=5_000.0, depth_noise=0.0, depth_decay=0.0,
                        volume_decay=0.0)


def paper_config(*, spread_ticks: int = 2, impact: bool = False,
                 drift_bps: float = 0.0) -> PaperConfig:
    return PaperConfig(
        seed=SEED, market=flat_market(spread_ticks),
        impact=ImpactConfig(enabled=impact, permanent_per_unit=PERMANENT,
                            temporary_per_unit=TEMPORARY, temporary_half_life_s=HALF_LIFE_S),
        adverse_selection=AdverseSelectionConfig(post_fill_drift_bps=drift_bps))


Order = dict[str, Any]  # request fields; "contract" picks the in-the-money contract (0, 1, ...)


def run(config: PaperConfig, orders: list[Order], *, markout_horizons_s: tuple[float, ...] = (),
        done: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
    """Submit every order at once, each on its own in-the-money contract (calls below the
    spot, puts above), and return the rows once they have all finished (and ``done(rows)``
    holds, e.g. every markout written)."""
    clock = VirtualClock()
    broker = PaperBroker(config, clock=clock, margin=1e12)
    engine = ExecutionEngine(broker, mode="paper", clock=clock,
                             config=EngineConfig(id_seed=5, markout_horizons_s=markout_horizons_s))
    rows: list[dict[str, Any]] = []
    lock = threading.Lock()
    finished = threading.Event()

    def collect(row: dict[str, Any]) -> None:
        with lock:
            rows.append(row)
            if done is not None and done(rows):
                finished.set()

    engine.add_listener(collect)
    chain = broker.option_chain("NIFTY", strikes_each_side=12)
    contracts = [r.call for r in chain.rows if r.strike < chain.spot] \
        + [r.put for r in chain.rows if r.strike > chain.spot]
    try:
        futures = []
        for order in orders:
            fields = dict(order)
            contract = contracts[fields.pop("contract")]
            quote = broker.quote(contract.tradingsymbol)
            assert quote is not None and quote.bid is not None and quote.ask is not None
            futures.append(engine.submit(ExecutionRequest.model_validate(dict(
                tradingsymbol=contract.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, seed=SEED, **fields)))[1])
        for future in futures:
            future.result(timeout=60)
        if done is not None:
            assert finished.wait(60), "rows still due after a minute"
    finally:
        engine.shutdown(10.0)
    return rows


def taking_twap(contract: int, side: str, lots: int = 40, slices: int = 10,
                horizon_s: float = 150.0) -> Order:
    """A TWAP at high urgency: every child crosses the spread."""
    return dict(contract=contract, side=side, quantity=lots * 65, execution_algo="TWAP",
                execution_urgency="high", max_child_orders=slices, horizon_s=horizon_s)


def fills_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["event"] == "filled" and r["filled_quantity"]]


@pytest.mark.parametrize("spread_ticks", [1, 3, 4])
def test_the_injected_half_spread_comes_back_exactly_from_the_fill_rows(
        spread_ticks: int) -> None:
    """Each taking fill against the mid its child was priced from is the configured half-spread
    (to float precision), though our impact moves that mid from child to child; so is the
    finished rows' spread part per unit filled."""
    half_spread = spread_ticks * TICK / 2
    rows = run(paper_config(spread_ticks=spread_ticks, impact=True),
               [taking_twap(0, "BUY"), taking_twap(1, "SELL"), taking_twap(2, "BUY", lots=7,
                                                                           slices=3)])
    fills = fills_of(rows)
    assert len(fills) >= 20 and {r["queue_priority"] for r in fills} == {"take"}
    assert len({r["mid_at_send"] for r in fills}) > 10  # impact moved the mids
    for r in fills:
        spread_paid = Side(r["side"]).sign * (r["fill_price"] - r["mid_at_send"])
        assert spread_paid == pytest.approx(half_spread, abs=1e-9)
        assert r["expected_slippage"] == pytest.approx(half_spread, abs=1e-9)  # the estimate
    for f in (r for r in rows if r["event"] == "finished"):
        assert f["is_spread"] / f["filled_quantity"] == pytest.approx(half_spread, abs=1e-9)


def prior_fill_features(fills: list[dict[str, Any]], half_life_s: float
                        ) -> tuple[list[float], list[float], list[float]]:
    """Per fill: how far its child's mid had moved from arrival against the side (rupees per
    unit), the parent's units filled before it, and those units decayed with the half-life."""
    moved, units, decayed = [], [], []
    rate = math.log(2.0) / half_life_s
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for r in fills:
        by_parent.setdefault(r["parent_id"], []).append(r)
    for parent_fills in by_parent.values():
        for i, r in enumerate(parent_fills):
            before = parent_fills[:i]
            moved.append(Side(r["side"]).sign * (r["mid_at_send"] - r["arrival_price"]))
            units.append(float(sum(b["filled_quantity"] for b in before)))
            decayed.append(sum(b["filled_quantity"] * math.exp(-rate * (r["ts"] - b["ts"]))
                               for b in before))
    return moved, units, decayed


def test_temporary_impact_comes_back_within_ten_percent() -> None:
    """Regressing how far each child's mid had moved from arrival on the parent's earlier
    fills (all of them, for the permanent part; decayed with the half-life, for the temporary
    part) recovers the exchange's temporary impact within 10 % (and its permanent impact
    within 20 %, the reference's tolerance)."""
    orders = [taking_twap(i, "BUY", lots=30 + 5 * i, slices=8 + i % 4, horizon_s=120.0 + 30 * i)
              for i in range(6)] \
        + [taking_twap(6 + i, "SELL", lots=35 + 5 * i, slices=9 + i % 3, horizon_s=200.0)
           for i in range(6)]
    fills = fills_of(run(paper_config(impact=True), orders))
    assert len(fills) >= 100
    moved, units, decayed = prior_fill_features(fills, HALF_LIFE_S)
    x = np.column_stack([units, decayed])
    (permanent, temporary), *_ = np.linalg.lstsq(x, np.array(moved), rcond=None)
    assert temporary == pytest.approx(TEMPORARY, rel=0.10)
    assert permanent == pytest.approx(PERMANENT, rel=0.20)
    # Without impact, nothing moves the mids at all.
    still = fills_of(run(paper_config(impact=False), orders[:2]))
    assert {r["mid_at_send"] - r["arrival_price"] for r in still} == {0.0}


def test_an_injected_post_fill_drift_shows_in_the_five_second_markout() -> None:
    """With the market drifting 20 bps against each of our fills over two seconds, the mean
    +5 s markout, less the spread the fill paid against its mid, is that drift within 10 %;
    half of it shows at +1 s (mid-ramp). Each order fills once, on its own contract, so no
    other fill's drift is in its markouts."""
    drift_bps = 20.0
    orders = [dict(contract=i, side="BUY" if i % 2 else "SELL", quantity=65 * (1 + i % 5),
                   execution_algo="IMMEDIATE") for i in range(24)]
    rows = run(paper_config(spread_ticks=2, drift_bps=drift_bps), orders,
               markout_horizons_s=HORIZONS_S,
               done=lambda rs: sum(r["event"] == "markout" for r in rs) == 3 * len(orders))
    fills = {r["child_id"]: r for r in fills_of(rows)}
    assert len(fills) == len(orders)
    seen: dict[float, list[float]] = {}
    for m in (r for r in rows if r["event"] == "markout"):
        fill = fills[m["child_id"]]
        spread_bps = Side(fill["side"]).sign * (fill["fill_price"] - fill["mid_at_send"]) \
            / fill["fill_price"] * 1e4
        seen.setdefault(m["markout_s"], []).append(m["markout_bps"] - spread_bps)
    assert float(np.mean(seen[5.0])) == pytest.approx(drift_bps, rel=0.10)
    assert float(np.mean(seen[60.0])) == pytest.approx(drift_bps, rel=0.10)
    assert float(np.mean(seen[1.0])) == pytest.approx(drift_bps / 2, rel=0.10)
    # Switched off (the default), the markouts show the spread and nothing else.
    quiet = run(paper_config(spread_ticks=2), orders[:4], markout_horizons_s=(5.0,),
                done=lambda rs: sum(r["event"] == "markout" for r in rs) == 4)
    for m in (r for r in quiet if r["event"] == "markout"):
        assert m["markout_bps"] == pytest.approx(TICK / m["fill_price"] * 1e4)


def shortfall_parts(finished: dict[str, Any]) -> dict[str, float]:
    return {k: finished[k] for k in ("is_delay", "is_spread", "is_drift", "is_opportunity")}


def test_a_mirrored_buy_and_sell_cost_the_same_and_the_parts_add_up() -> None:
    """The same parents bought and sold on the same (flat) path, with impact on: each part of
    the shortfall, and the market part in bps, is the same for both sides. Fees are not
    mirrored (STT is charged on option sales, stamp duty on buys). On both runs the parts add
    up to the whole computed from the fill rows, within 1e-6."""
    def orders(side: str) -> list[Order]:
        return [taking_twap(0, side), taking_twap(1, side, lots=12, slices=4, horizon_s=40.0),
                dict(contract=2, side=side, quantity=65 * 30, execution_algo="IMMEDIATE")]

    finished: dict[str, list[dict[str, Any]]] = {}
    for side in ("BUY", "SELL"):
        rows = run(paper_config(spread_ticks=2, impact=True), orders(side))
        finished[side] = sorted((r for r in rows if r["event"] == "finished"),
                                key=lambda r: r["tradingsymbol"])
        for f in finished[side]:
            fills = [r for r in fills_of(rows) if r["parent_id"] == f["parent_id"]]
            s = Side(side).sign
            filled = sum(r["filled_quantity"] for r in fills)
            whole = s * (sum(r["filled_quantity"] * r["fill_price"] for r in fills)
                         - filled * f["decision_price"]) + f["fees"]
            assert f["is_opportunity"] == 0.0 and filled == f["quantity"]
            assert sum(shortfall_parts(f).values()) + f["fees"] == pytest.approx(
                whole, rel=1e-6, abs=1e-6)
    for bought, sold in zip(finished["BUY"], finished["SELL"], strict=True):
        assert bought["tradingsymbol"] == sold["tradingsymbol"]
        assert bought["decision_price"] == sold["decision_price"]
        for part, value in shortfall_parts(bought).items():
            assert value == pytest.approx(shortfall_parts(sold)[part], rel=1e-9, abs=1e-9)
        market_bps = [sum(shortfall_parts(f).values()) / (f["quantity"] * f["decision_price"])
                      * 1e4 for f in (bought, sold)]
        assert market_bps[0] > 0 and market_bps[0] == pytest.approx(market_bps[1], rel=1e-9)
        assert bought["fees"] != sold["fees"]
