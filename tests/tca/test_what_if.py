"""The what-if (``imperium-exec tca --what-if``): each finished parent replayed under every
algorithm on the market its journal recorded, through the production planner and engine."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from imperium_exec.brokers.base import Quote
from imperium_exec.cli import main
from imperium_exec.costs.slippage import SlippageParams
from imperium_exec.request import ExecutionRequest, Side
from imperium_exec.sim.chain import Instrument
from imperium_exec.sim.config import PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.telemetry import read_rows
from imperium_exec.testing.paper_session import paper_session
from imperium_exec.whatif.market import Fill, ParentRecord, SymbolMarket, read_markets
from imperium_exec.whatif.paper import JournalSeries, ParentMarket, run_replays
from imperium_exec.whatif.replay import replay_cost, replay_parent, replay_request, what_if
from imperium_exec.whatif.report import render_what_if

T0 = 1_795_491_900.0
NO_IMPACT = SlippageParams(permanent_per_unit=0.0, temporary_per_unit=0.0)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded desk session on the paper exchange (every algorithm, both sides, markouts)."""
    return paper_session(tmp_path_factory.mktemp("whatif") / "paper.jsonl", parents=12,
                         seed=12)


def _parent(side: Side, *, algo: str = "IMMEDIATE", quantity: int = 130,
            fills: tuple[Fill, ...] = (), arrival: float = 100.0,
            urgency: str = "normal") -> ParentRecord:
    fields: dict[str, object] = dict(
        tradingsymbol="NIFTY26D0126000CE", exchange="NFO", side=side.value, quantity=quantity,
        order_type="MARKET", bid=arrival - 0.05, ask=arrival + 0.05, lot_size=65,
        tick_size=0.05, execution_algo=algo, execution_urgency=urgency)
    if algo != "IMMEDIATE":
        fields.update(horizon_s=60.0, max_child_orders=quantity // 65, randomize_slices=False)
    request = ExecutionRequest.model_validate(fields)
    return ParentRecord(parent_id="P1", tradingsymbol="NIFTY26D0126000CE", exchange="NFO",
                        side=side, algo=algo, urgency=urgency, quantity=quantity,
                        arrival_price=arrival, start=T0, end=T0 + 1, end_price=arrival,
                        fills=fills, fees=0.0, request=request)


def _still_market(mid: float = 100.0, spread: float = 0.1,
                  units_a_second: int = 0) -> SymbolMarket:
    """A mid that never moves, seen every 5 s, one quoted spread; the rest of the market
    trading ``units_a_second`` (the session's volume as the children's quotes showed it)."""
    market = SymbolMarket("NIFTY26D0126000CE", spreads=[spread])
    market.mids = [(T0 + t, mid) for t in range(0, 80, 5)]
    if units_a_second:
        market.volumes = [(T0 + t, 1_000_000 + units_a_second * t, 3_600.0 + t)
                          for t in range(0, 200, 10)]
    return market


def _instrument() -> Instrument:
    return Instrument(instrument_token=1, exchange_token=1, tradingsymbol="REPLAY001CE",
                      name="NIFTY", exchange="NFO", segment="NFO-OPT", instrument_type="CE",
                      expiry=None, strike=0.0, lot_size=65, tick_size=0.05,
                      freeze_quantity=1_800)


def test_the_replayed_mid_goes_through_every_mid_the_journal_observed() -> None:
    market = SymbolMarket("NIFTY26D0126000CE")
    market.mids = [(T0, 100.0), (T0 + 10, 101.0), (T0 + 20, 99.5), (T0 + 30, 100.5)]
    parent = _parent(Side.BUY)
    inputs = ParentMarket.of(parent, market, NO_IMPACT, lot=65, tick=0.05)
    paths = [JournalSeries(_instrument(), inputs, seed, first_step=0).path for seed in (1, 2)]
    for path in paths:
        assert [path[t] for t in (0, 10, 20, 30)] == pytest.approx([100.0, 101.0, 99.5, 100.5])
    # Between observations each seed draws its own bridge, at the observations' volatility.
    assert not np.allclose(paths[0][1:10], paths[1][1:10])


def test_the_replayed_flow_is_the_session_volume_the_journal_saw() -> None:
    # The quotes say the rest of the market traded 650 units a second, 1,000,000 before.
    parent = _parent(Side.BUY)
    inputs = ParentMarket.of(parent, _still_market(units_a_second=650), NO_IMPACT, lot=65,
                             tick=0.05)
    series = JournalSeries(_instrument(), inputs, 1, first_step=3_600)
    assert series.volume_between(-1, 3_600) == 1_000_000
    traded = series.volume_between(3_600, 3_600 + 150)  # the window and some of its tail
    assert traded % 65 == 0
    assert traded == pytest.approx(650 * 150, rel=0.1)  # Poisson lots: 1,500 expected
    for k in (3_601, 3_700, 3_749):  # what the matcher reads is the same flow
        blk = series.block(k // 512)
        assert blk.buy_volume[k % 512] + blk.sell_volume[k % 512] \
            == series.volume_between(k - 1, k)


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
def test_on_a_still_market_an_immediate_parent_pays_half_the_spread_and_a_twap_half_of_that(
        side: Side) -> None:
    # A 0.10 spread about a mid of 100.00 that never moves, the rest of the market trading
    # 650 units a second. IMMEDIATE takes at the touch: 130 units at half the spread, 6.50.
    price = 100.05 if side is Side.BUY else 99.95
    parent = _parent(side, fills=(Fill(T0, 130, price),))
    market = _still_market(units_a_second=650)
    result = replay_parent(parent, market, NO_IMPACT, seeds=range(1, 4),
                           algorithms=("IMMEDIATE",))
    assert result.skipped is None
    assert result.realized == pytest.approx(130 * 0.05)
    assert result.outcomes["IMMEDIATE"].costs == pytest.approx([130 * 0.05] * 3)
    assert result.outcomes["IMMEDIATE"].filled_share == 1.0
    assert result.own_within_band() is True
    assert result.bps(result.realized) == pytest.approx(6.5 / (100.0 * 130) * 1e4)
    # A normal TWAP in two slices: the spread is two ticks, so its first slice rests at the
    # mid (100.00), inside the spread, and fills from the other side's flow at no cost; the
    # last slice takes at the touch: 65 units at 0.05, 3.25.
    twap = _parent(side, algo="TWAP")
    result = replay_parent(twap, market, NO_IMPACT, seeds=range(1, 4), algorithms=("TWAP",))
    assert result.outcomes["TWAP"].costs == pytest.approx([65 * 0.05] * 3)
    assert result.outcomes["TWAP"].filled_share == 1.0


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_passive_parent_rests_fills_later_and_earns_the_spread_a_taking_one_pays(
        side: Side) -> None:
    # A four-tick spread (0.20) about a still 100.00: a normal TWAP's children join the
    # queue at their own touch (a buy at 99.90, a sell at 100.10) and fill when the other
    # side's flow has eaten the queue ahead of them; its last slice takes (100.10 / 99.90).
    market = _still_market(spread=0.2, units_a_second=1_300)
    seeds = [1, 2, 3]
    runs = {}
    for urgency in ("normal", "high"):
        parent = _parent(side, algo="TWAP", quantity=260, urgency=urgency)

        def make(symbol: str, quote: Quote, seed: int, parent: ParentRecord = parent
                 ) -> ExecutionRequest:
            return replay_request(parent, "TWAP", symbol, quote, seed)

        inputs = ParentMarket.of(parent, market, NO_IMPACT, lot=65, tick=0.05)
        runs[urgency] = (parent, run_replays(inputs, NO_IMPACT, seeds=seeds, make_request=make))
    near, far = (99.90, 100.10) if side is Side.BUY else (100.10, 99.90)
    parent, passive = runs["normal"]
    for run in passive:
        assert run.filled == 260
        rested = [f for f in run.fills if f.rested(side)]
        assert sum(f.units for f in rested) == 195  # three slices of four
        for f in rested:
            assert f.price == pytest.approx(near)  # short of the far touch: its own price
            assert f.ts > f.placed  # it waited in the book for the market's flow
        taken = [f for f in run.fills if not f.rested(side)]
        assert [f.units for f in taken] == [65]  # the last slice, at the far touch
        assert [f.price for f in taken] == pytest.approx([far])
    # Three slices earn half the spread, the last pays it: 195 * -0.10 + 65 * 0.10 = -13.00;
    # taking every slice pays it on all 260 units: +26.00.
    assert [replay_cost(parent, run, NO_IMPACT) for run in passive] \
        == pytest.approx([-13.0] * 3)
    parent, taking = runs["high"]
    assert all(not f.rested(side) for run in taking for f in run.fills)
    assert [replay_cost(parent, run, NO_IMPACT) for run in taking] \
        == pytest.approx([26.0] * 3)


def test_a_parent_whose_window_the_journal_barely_saw_is_reported_not_replayed() -> None:
    market = SymbolMarket("NIFTY26D0126000CE", spreads=[0.1])
    market.mids = [(T0, 100.0), (T0 + 1, 100.1)]  # two mids in a 60 s window
    parent = _parent(Side.BUY, fills=(Fill(T0, 130, 100.05),))
    result = replay_parent(parent, market, NO_IMPACT, seeds=[1])
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
