"""Calibration that holds on a moving market (issue 23, part 6): the index moving as it
normally does (annual volatility 0.13) moves a premium by hundreds of bps over a parent's
minutes, against an impact of a few bps. ``calibrate`` takes the market's own move out
(each option repriced from its index at the arrival, the pricing and the fill) before fitting.

At the suite's size, 60 unmirrored parents over two virtual days with the larger known impact
(permanent 1e-4, temporary 4e-4 per unit, half-life 30 s): measured within 3 % of the truth on
seeds 3, 4 and 5, so the ±25 % asked of the full-size run (``bench/bench_calibrate.py``: 2,000
parents, both settings) holds here with room; with the market left in, the same journal fits
nothing. The smaller setting (2e-5 / 1e-4 / 90 s) needs the benchmark's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from session_once import once_per_session

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.calibration.market_move import option_pricer
from imperium_exec.calibration.slippage_fit import (
    HALF_LIVES_S,
    Calibration,
    JournalReading,
    calibrate,
    calibrate_reading,
    read_observations,
    slope_interval,
)
from imperium_exec.clock import VirtualClock
from imperium_exec.costs.slippage import SlippageModel
from imperium_exec.sim.config import ImpactConfig, MarketConfig
from imperium_exec.testing.paper_parents import simulate_journal

TRUTH = ImpactConfig(permanent_per_unit=1e-4, temporary_per_unit=4e-4,
                     temporary_half_life_s=30.0)
TOLERANCE = 0.25


@pytest.fixture(scope="module")
def reading(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> JournalReading:
    """The 60 parents' journal, read: once a test session (the tests only read it)."""
    def make() -> JournalReading:
        journal = tmp_path_factory.mktemp("moving") / "fit.jsonl"
        simulate_journal(60, seed=3, journal=journal, slippage=SlippageModel(),
                         market=MarketConfig(), impact=TRUTH, mirrored=False, batch=30)
        return read_observations([journal])

    return once_per_session(request, tmp_path_factory, "moving_market_reading", make)


def recovers_the_truth(fit: Calibration) -> bool:
    """Permanent and temporary within :data:`TOLERANCE` of the truth, the half-life within one
    step of the grid."""
    permanent = fit.estimates["permanent_per_unit"][0]
    temporary = fit.estimates["temporary_per_unit"][0]
    steps = abs(HALF_LIVES_S.index(fit.params.temporary_half_life_s)
                - HALF_LIVES_S.index(TRUTH.temporary_half_life_s))
    return (abs(permanent / TRUTH.permanent_per_unit - 1.0) <= TOLERANCE
            and abs(temporary / TRUTH.temporary_per_unit - 1.0) <= TOLERANCE and steps <= 1)


def test_the_market_move_reprices_an_option_as_the_exchange_does() -> None:
    """The pricer made from one fair price and index level gives the exchange's fair price a
    minute later from the index then: the option's move is the market's, to a fraction of a
    paisa (the exchange's own Black-76 is a second, vectorised implementation)."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=8, margin=1e10)
    chain = broker.option_chain("NIFTY", strikes_each_side=2)
    symbol = chain.rows[len(chain.rows) // 2 + 1].call.tradingsymbol
    start, level, fair = clock.now(), broker.spot("NIFTY"), broker.fair_price(symbol)
    pricer = option_pricer(symbol, fair, level, start)
    assert pricer is not None
    assert pricer.vol == pytest.approx(0.13, rel=1e-6)  # the market's implied volatility
    clock.jump(60.0)
    moved = broker.fair_price(symbol) - fair
    assert abs(moved) > 0.05  # the index moved, and the premium with it
    assert pricer.move(level, start, broker.spot("NIFTY"), clock.now()) \
        == pytest.approx(moved, abs=1e-6)


# The first test to read the journal makes it: early, so that the others find it made.
@pytest.mark.slow(seconds=2)
def test_child_and_fill_rows_carry_the_index_levels_the_fit_needs(
        reading: JournalReading) -> None:
    assert reading.observations and reading.market_removed == len(reading.observations)
    assert len(reading.mid_moves) >= len({o.parent_id for o in reading.observations})
    moved = np.array([m.move for m in reading.mid_moves])
    left = np.array([m.move - m.market_move for m in reading.mid_moves])
    assert np.std(left) < np.std(moved) / 10  # the market was most of the mid's move


def test_with_the_market_taken_out_60_parents_recover_the_known_impact(
        reading: JournalReading) -> None:
    fit = calibrate_reading(reading)
    assert fit.market_removed and fit.problems == []
    assert recovers_the_truth(fit), fit.estimates
    held = fit.held_out
    assert held is not None and held.by == "days" and held.folds == 2
    assert held.slope_low is not None and held.slope_high is not None
    assert held.slope_low < 1.0 < held.slope_high  # unseen days cost what was predicted
    assert "the market's own move was taken out" in fit.describe_method()[0]


def test_with_the_market_left_in_the_same_journal_does_not_recover_it(
        reading: JournalReading) -> None:
    as_is = calibrate(reading.observations)
    assert not as_is.market_removed
    assert not recovers_the_truth(as_is)
    assert as_is.problems  # refused: the market's move drowns the impact


def test_fresh_parents_of_another_day_cost_what_the_fit_predicts(
        reading: JournalReading, tmp_path: Path) -> None:
    """30 parents on a later virtual day, estimated by the engine with the fitted parameters:
    the realized cost of the children that took liquidity (the market's move taken out)
    against the journal's own estimate, per child, bps of arrival."""
    fit = calibrate_reading(reading)
    journals = simulate_journal(30, seed=40, journal=tmp_path / "fresh.jsonl",
                                slippage=SlippageModel(fit.params), market=MarketConfig(),
                                impact=TRUTH, mirrored=False, day=10)
    taking = [o for o in read_observations(journals).observations
              if o.spread_part > 0 and o.market_move is not None]
    predicted = np.array([o.estimated_bps for o in taking])
    realized = np.array([(o.realized - (o.market_move or 0.0)) / o.arrival_price * 1e4
                         for o in taking])
    clusters = np.unique([o.parent_id for o in taking], return_inverse=True)[1]
    slope, low, high = slope_interval(predicted, realized, clusters)
    assert 0.8 < low < slope < high < 1.2, (slope, low, high)  # inside 0.8-1.2, and sure
