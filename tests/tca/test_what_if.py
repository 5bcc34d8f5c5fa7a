"""The what-if (``imperium-exec tca --what-if``): each finished parent replayed under every
algorithm on the market its journal recorded, through the production planner and engine."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from imperium_exec.cli import main
from imperium_exec.costs.slippage import SlippageParams
from imperium_exec.request import ExecutionRequest, Side
from imperium_exec.sim.config import PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.telemetry import read_rows
from imperium_exec.testing.paper_session import paper_session
from imperium_exec.whatif.market import Fill, ParentRecord, SymbolMarket, read_markets
from imperium_exec.whatif.replay import ReplayMarket, replay_parent, what_if
from imperium_exec.whatif.report import render_what_if

T0 = 1_795_491_900.0
NO_IMPACT = SlippageParams(permanent_per_unit=0.0, temporary_per_unit=0.0)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded desk session on the paper exchange (every algorithm, both sides, markouts)."""
    return paper_session(tmp_path_factory.mktemp("whatif") / "paper.jsonl", parents=12,
                         seed=12)


def _parent(side: Side, *, algo: str = "IMMEDIATE", quantity: int = 130,
            fills: tuple[Fill, ...] = (), arrival: float = 100.0) -> ParentRecord:
    request = ExecutionRequest.model_validate(dict(
        tradingsymbol="NIFTY26D0126000CE", exchange="NFO", side=side.value, quantity=quantity,
        order_type="MARKET", bid=arrival - 0.05, ask=arrival + 0.05, lot_size=65,
        tick_size=0.05, execution_algo=algo))
    return ParentRecord(parent_id="P1", tradingsymbol="NIFTY26D0126000CE", exchange="NFO",
                        side=side, algo=algo, urgency="normal", quantity=quantity,
                        arrival_price=arrival, start=T0, end=T0 + 1, end_price=arrival,
                        fills=fills, fees=0.0, request=request)


def _still_market(mid: float = 100.0, spread: float = 0.1) -> SymbolMarket:
    market = SymbolMarket("NIFTY26D0126000CE", spreads=[spread])
    market.mids = [(T0 + t, mid) for t in range(0, 80, 5)]
    return market


def test_the_replayed_mid_goes_through_every_mid_the_journal_observed() -> None:
    market = SymbolMarket("NIFTY26D0126000CE")
    market.mids = [(T0, 100.0), (T0 + 10, 101.0), (T0 + 20, 99.5), (T0 + 30, 100.5)]
    parent = _parent(Side.BUY)
    paths = [ReplayMarket(parent, market, NO_IMPACT, seed).path for seed in (1, 2)]
    for path in paths:
        assert [path[t] for t in (0, 10, 20, 30)] == pytest.approx([100.0, 101.0, 99.5, 100.5])
    # Between observations each seed draws its own bridge, at the observations' volatility.
    assert not np.allclose(paths[0][1:10], paths[1][1:10])


def test_only_the_replayed_parents_own_fills_are_taken_out_of_the_mids() -> None:
    market = SymbolMarket("NIFTY26D0126000CE")
    market.mids = [(T0, 100.0), (T0 + 10, 101.5)]
    market.ours = [(T0 + 1, 100, "P1"), (T0 + 2, -50, "OTHER")]
    params = SlippageParams(permanent_per_unit=0.01, temporary_per_unit=0.0)
    # P1 bought 100 units at 0.01 a unit for good: 1.0 of the 1.5 rise was its own.
    assert market.unimpacted(params, "P1")[1][1] == pytest.approx(100.5)
    # The other parent's sale was part of P1's market: it stays.
    assert market.unimpacted(params, "OTHER")[1][1] == pytest.approx(101.5 + 0.5)


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_an_immediate_parent_on_a_still_market_costs_half_the_spread_a_unit(
        side: Side, tmp_path: Path) -> None:
    # Filled at the touch: 130 units at half of a 0.10 spread, 6.50 rupees, buy or sell.
    price = 100.05 if side is Side.BUY else 99.95
    parent = _parent(side, fills=(Fill(T0, 130, price),))
    result = replay_parent(parent, _still_market(), NO_IMPACT, seeds=range(1, 4),
                           algorithms=("IMMEDIATE", "TWAP"), workdir=tmp_path)
    assert result.skipped is None
    assert result.realized == pytest.approx(130 * 0.05)
    for algo in ("IMMEDIATE", "TWAP"):  # any schedule pays the same on a still market
        outcome = result.outcomes[algo]
        assert outcome.costs == pytest.approx([130 * 0.05] * 3)
        assert outcome.filled_share == 1.0
    assert result.own_within_band() is True
    assert result.bps(result.realized) == pytest.approx(6.5 / (100.0 * 130) * 1e4)


def test_a_parent_whose_window_the_journal_barely_saw_is_reported_not_replayed(
        tmp_path: Path) -> None:
    market = SymbolMarket("NIFTY26D0126000CE", spreads=[0.1])
    market.mids = [(T0, 100.0), (T0 + 1, 100.1)]  # two mids in a 60 s window
    parent = _parent(Side.BUY, fills=(Fill(T0, 130, 100.05),))
    result = replay_parent(parent, market, NO_IMPACT, seeds=[1], workdir=tmp_path)
    assert result.outcomes == {}
    assert result.skipped is not None and "2 mid(s) observed over its 60 s window" \
        in result.skipped
    journal = read_markets([])
    journal.parents.append(parent)
    journal.markets[parent.tradingsymbol] = market
    text = render_what_if(what_if(journal, NO_IMPACT, impact="none", seeds=1))
    assert "P1 BUY 130 NIFTY26D0126000CE IMMEDIATE normal" in text
    assert "not replayed, too little of its market in the journal" in text
    assert "No parent replayed" in text


def test_paper_parents_replayed_under_their_own_algorithm_land_in_the_band_nine_in_ten(
        session: Path) -> None:
    journal = read_markets(read_rows(session))
    report = what_if(journal, paper_slippage_params(PaperConfig()), impact="paper",
                     seeds=40, own_only=True)
    checked = [p.own_within_band() for p in report.replayed]
    assert len(checked) >= 8  # most of the session's parents are replayable
    assert all(c is not None for c in checked)
    assert sum(bool(c) for c in checked) >= math.ceil(0.9 * len(checked))
    # What is not replayable says why, in words.
    for p in report.parents:
        assert (p.skipped is None) == (p.observed >= 3 and p.parent.algo in p.outcomes)


def test_the_command_prints_each_algorithm_beside_the_realized_cost_and_writes_it(
        session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "tca.html"
    code = main(["tca", str(session), "-o", str(html), "--parquet", str(tmp_path / "pq"),
                 "--what-if", "--what-if-seeds", "3", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "What-if: each finished parent replayed under every algorithm" in out
    assert "Impact: the paper exchange's own impact." in out
    assert "In all, " in out and "(its own)" in out
    for algo in ("IMMEDIATE", "TWAP", "VWAP", "POV", "IS"):
        assert f"\n  {algo} " in out
    assert "-0\n" not in out and " -0 " not in out
    assert "id='what-if'" in html.read_text(encoding="utf-8")
    table = duckdb.sql(f"SELECT parent_id, algo, cost, low, high FROM "
                       f"'{tmp_path / 'pq' / 'whatif.parquet'}'").fetchall()
    replayed = {row[0] for row in table}
    assert replayed and {row[1] for row in table} == {"realized", "IMMEDIATE", "TWAP", "VWAP",
                                                      "POV", "IS"}
    assert len(table) == 6 * len(replayed)  # the realized line and five algorithms each
    for _parent_id, algo, cost, low, high in table:
        assert math.isfinite(cost)
        assert (low is None) == (algo == "realized")
        assert algo == "realized" or low <= high
