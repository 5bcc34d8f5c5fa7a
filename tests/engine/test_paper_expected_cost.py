"""On the paper exchange, the dock's expected cost is what the exchange really charges.

Many parents of every algorithm and several sizes run on the paper exchange in virtual time;
the dock's own figures (:class:`ExecutionStats`: quantity-weighted bps of the arrival price,
expected from the placed rows, realized from the fill rows) are computed from the rows the
engine wrote, and must agree.

Two things about the market keep the comparison about costs, not luck: the index stands still
(its random walk would move a premium by ~70 bps a second, against costs of a few bps), and
every parent runs twice on the same seeded market, once bought and once sold, so what is left
of the price path (the options' time decay, which makes buys look cheap and sells dear) cancels
in the pooled mean, as in the reference's mirrored-path test. What remains is spread, walking
the book, and the exchange's own permanent and temporary impact.
"""

from __future__ import annotations

from typing import Any

import pytest

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.costs.slippage import SlippageModel
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import read_event
from imperium_exec.sim.config import MarketConfig
from imperium_exec.testing.paper_parents import ParentSpec, parent_request, still_market
from imperium_exec.widgets.events_model import ChildEventStore
from imperium_exec.widgets.stats import ExecutionStats

SEED = 11


PARENTS = (
    ParentSpec("IMMEDIATE", 1, 0, "CE"),
    ParentSpec("IMMEDIATE", 4, 1, "PE"),
    ParentSpec("IMMEDIATE", 20, -1, "CE", urgency="high"),
    ParentSpec("IMMEDIATE", 60, 0, "PE"),  # over the freeze quantity: three children at once
    ParentSpec("TWAP", 6, 1, "PE", slices=6, horizon_s=120.0),
    ParentSpec("TWAP", 24, 0, "CE", slices=8, horizon_s=240.0),
    ParentSpec("VWAP", 8, -1, "CE", slices=4, horizon_s=90.0),
    ParentSpec("VWAP", 30, 2, "PE", slices=6, horizon_s=300.0),
    ParentSpec("POV", 8, 2, "CE", slices=8, horizon_s=180.0),
    ParentSpec("POV", 40, 0, "PE", slices=10, horizon_s=300.0),
    ParentSpec("IS", 6, -1, "PE", urgency="high", slices=3, horizon_s=30.0),
    ParentSpec("IS", 24, 0, "CE", slices=6, horizon_s=240.0),
)


def run_parents(side: str, slippage: SlippageModel | None = None,
                market: MarketConfig | None = None) -> list[dict[str, Any]]:
    """Every parent of :data:`PARENTS`, one after the other, on a fresh paper exchange (the
    still market unless ``market`` is given)."""
    clock = VirtualClock()
    # Margin for every sell to go through: the mirrored sells must trade what the buys do.
    broker = PaperBroker(clock=clock, seed=SEED, market=market or still_market(), margin=1e10)
    chain = broker.option_chain("NIFTY", strikes_each_side=5)
    rows: list[dict[str, Any]] = []
    engine = ExecutionEngine(broker, mode="paper", clock=clock, slippage=slippage,
                             # No markouts: their timers let the idle virtual clock run on
                             # between parents by however long this thread takes to submit
                             # the next one (the market each parent meets would vary).
                             config=EngineConfig(id_seed=3, markout_horizons_s=()))
    engine.add_listener(rows.append)
    try:
        for p in PARENTS:
            _, future = engine.submit(parent_request(broker, chain, p, side=side, seed=SEED))
            future.result(timeout=60.0)
    finally:
        engine.shutdown(10.0)
    return rows


def dock_figures(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """The dock's expected and realized slippage tiles (bps of arrival) for ``rows``."""
    stats = ExecutionStats()
    stats.add(ChildEventStore().encode([read_event(r) for r in rows]))
    figures = stats.figures()
    assert figures.expected_bps is not None and figures.realized_bps is not None
    return figures.expected_bps, figures.realized_bps


@pytest.fixture(scope="module")
def paper_rows() -> list[dict[str, Any]]:
    return run_parents("BUY") + run_parents("SELL")


def test_expected_cost_agrees_with_realized_slippage_on_the_paper_exchange(
        paper_rows: list[dict[str, Any]]) -> None:
    fills = [r for r in paper_rows if r["event"] == "filled" and r["filled_quantity"]]
    assert len(fills) >= 60  # many children, of every algorithm
    assert {r["execution_algo"] for r in fills} == {"IMMEDIATE", "TWAP", "VWAP", "POV", "IS"}
    assert {r["queue_priority"] for r in fills} >= {"take", "neutral"}
    expected, realized = dock_figures(paper_rows)
    assert realized > 10.0  # impact and the book walk matter here, not only the spread
    assert expected == pytest.approx(realized, rel=0.25)


def test_on_a_moving_market_the_estimate_agrees_with_the_fills_at_send() -> None:
    """With the index moving (its default 13 % a year: tens of bps a second on a premium) and
    buys only, the fills against arrival carry the market's move; against the mid each child
    was priced from they cost what the estimate at send said (the dock's like-for-like
    comparison), and the two parts add up to the whole."""
    rows = run_parents("BUY", market=MarketConfig())
    stats = ExecutionStats()
    stats.add(ChildEventStore().encode([read_event(r) for r in rows]))
    f = stats.figures()
    assert f.realized_at_send_bps is not None and f.expected_at_send_bps is not None
    assert f.mid_move_bps is not None and f.realized_bps is not None
    assert abs(f.mid_move_bps) > 2.0  # the market moved enough to matter against arrival
    assert f.realized_at_send_bps + f.mid_move_bps == pytest.approx(f.realized_bps)
    assert f.fills_expected_at_send_bps == pytest.approx(f.realized_at_send_bps, rel=0.25)
    placed = [r for r in rows if r["event"] == "placed"]
    assert any(r["prior_impact"] for r in placed)  # later children: earlier fills' impact
    assert all(r["prior_impact"] <= r["impact_estimate"] + 1e-12 for r in placed)


def test_the_paper_estimate_is_more_than_the_spread(paper_rows: list[dict[str, Any]]) -> None:
    """Children after the first pay the parent's own impact, and the estimate says so (of
    the first parent on each contract: a later one's estimate also counts the earlier
    parents' impact decaying, tests/engine/test_desk_fills_impact.py)."""
    placed = [r for r in paper_rows if r["event"] == "placed"]
    first_on_contract: dict[tuple[str, str], str] = {}
    for r in paper_rows:  # (each side is a run of its own, on a fresh exchange)
        if r["event"] == "accepted":
            first_on_contract.setdefault((r["side"], r["tradingsymbol"]), r["parent_id"])
    firsts = set(first_on_contract.values())
    later = [r for r in placed if r["child_index"] > 1 and r["parent_id"] in firsts]
    assert later and all(r["impact_estimate"] > 0 for r in later)
    assert all(r["impact_estimate"] == 0 for r in placed
               if r["execution_algo"] == "IMMEDIATE" and r["children"] == 1
               and r["quantity"] <= 4 * 65)  # small enough for the touch, nothing before it


def test_the_live_defaults_do_not_describe_the_paper_exchange() -> None:
    """The same run estimated with the generic (live) parameters is far off: the paper
    exchange's costs come from its own configuration, not from the live defaults."""
    rows = run_parents("BUY", SlippageModel()) + run_parents("SELL", SlippageModel())
    expected, realized = dock_figures(rows)
    assert abs(expected - realized) > 0.25 * realized
