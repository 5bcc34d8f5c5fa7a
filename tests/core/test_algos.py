"""The execution algorithms behind one interface: the registry, and each one's run-time sizing."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from typing import Any

import pytest

from imperium_exec.algos.base import Algorithm, DueSlice, Replanner
from imperium_exec.algos.planner import ExecutionAlgoPlanner
from imperium_exec.algos.pov import (
    forecast_volume,
    observed_volume,
    pov_child_quantity,
    trim_later,
)
from imperium_exec.algos.registry import ALGORITHMS, algorithm_for
from imperium_exec.brokers.base import Quote
from imperium_exec.engine.state import ChildState, ParentState
from imperium_exec.events import ChildStatus
from imperium_exec.request import ExecutionAlgo, ExecutionRequest
from imperium_exec.timeutil import IST
from imperium_exec.volume_curve import VolumeCurve

NIFTY_LOT = 65
NIFTY_MAX = 1755  # 27 lots under the 1800 freeze
OPEN = dt.datetime(2026, 3, 10, 9, 15, tzinfo=IST).timestamp()
NOW = OPEN + 45 * 60  # 10:00 IST
PLANNER = ExecutionAlgoPlanner()


def make(lots: int = 40, algo: str = "TWAP", **kw: Any) -> ExecutionRequest:
    fields: dict[str, Any] = {
        "tradingsymbol": "NIFTY26D0125000CE", "exchange": "NFO", "side": "BUY",
        "quantity": lots * NIFTY_LOT, "lot_size": NIFTY_LOT, "tick_size": 0.05,
        "freeze_quantity": 1800, "execution_algo": algo, "randomize_slices": False,
    }
    fields.update(kw)
    return ExecutionRequest(**fields)


def session_seconds(epoch_s: float) -> float:
    return epoch_s - OPEN


def running(request: ExecutionRequest, *,
            expected_market_volume: float | None = None) -> ParentState:
    """A parent as the engine starts it: one scheduled child per planned child."""
    plan = PLANNER.plan(request, now=NOW, seed=1, session_seconds=session_seconds,
                        expected_market_volume=expected_market_volume)
    parent = ParentState(parent_id="P1", request=request, plan=plan, arrival_price=100.0,
                         future=concurrent.futures.Future())
    parent.children = [ChildState(c.index, c.slice_index, c.quantity, c.send_at)
                       for c in plan.children]
    return parent


def quote(volume: int, at: float = NOW) -> Quote:
    return Quote("NIFTY26D0125000CE", at, 99.95, 100.05, 100.0, volume)


def fill(parent: ParentState, child: ChildState) -> None:
    child.status = ChildStatus.FILLED
    child.filled = child.quantity
    parent.filled += child.quantity


def due_slice(parent: ParentState, slice_index: int, market: Quote | None) -> DueSlice:
    planned = [c for c in parent.children if c.slice_index == slice_index]
    later = [c for c in parent.children if c.slice_index > slice_index]
    free = parent.remaining - sum(c.quantity for c in later)
    return DueSlice(planned=planned, later=later, free=free, quote=market)


# ---------------------------------------------------------------------- the registry


@pytest.mark.parametrize("algo", list(ExecutionAlgo))
def test_every_algorithm_a_request_can_name_has_its_own_module(algo: ExecutionAlgo) -> None:
    algorithm = algorithm_for(algo)
    assert isinstance(algorithm, Algorithm) and algorithm.algo is algo
    assert type(algorithm).__module__.startswith("imperium_exec.algos.")
    assert type(algorithm).__module__ != "imperium_exec.algos.base"


def test_no_two_algorithms_share_a_module() -> None:
    modules = [type(a).__module__ for a in ALGORITHMS.values()]
    assert len(set(modules)) == len(modules) == len(ExecutionAlgo)


@pytest.mark.parametrize("algo", list(ExecutionAlgo))
def test_the_plan_says_whether_its_algorithm_sizes_at_run_time(algo: ExecutionAlgo) -> None:
    plan = PLANNER.plan(make(40, algo.value, max_child_orders=4, horizon_s=600,
                             participation_rate=0.1),
                        now=NOW, seed=1, session_seconds=session_seconds)
    assert plan.dynamic_sizing is algorithm_for(algo).sizes_at_run_time
    assert plan.dynamic_sizing is (algo is ExecutionAlgo.POV)


# ---------------------------------------------------------------------- sized by the plan


def test_a_scheduled_slice_rolls_in_quantity_given_back() -> None:
    parent = running(make(40, "TWAP", max_child_orders=4, horizon_s=600))
    first = parent.children[0]
    parent.children.remove(first)  # it ended unfilled: its 10 lots went back to the parent
    due = due_slice(parent, 1, None)
    assert due.planned_quantity == 10 * NIFTY_LOT
    assert algorithm_for(ExecutionAlgo.TWAP).size_slice(parent, due) == 20 * NIFTY_LOT


def test_an_immediate_slice_sends_its_plan_and_nothing_given_back() -> None:
    parent = running(make(40, "IMMEDIATE"))
    parent.filled = 5 * NIFTY_LOT  # whatever happened before, the plan's slice is the size
    due = due_slice(parent, 0, None)
    assert algorithm_for(ExecutionAlgo.IMMEDIATE).size_slice(parent, due) == 40 * NIFTY_LOT


# ---------------------------------------------------------------------- POV at run time


def test_observed_volume_is_the_volume_since_the_previous_slice() -> None:
    parent = running(make(40, "POV", max_child_orders=4, horizon_s=600))
    assert observed_volume(parent, None) is None
    assert observed_volume(parent, quote(10_000)) is None  # the first: nothing to measure from
    assert observed_volume(parent, quote(12_500)) == 2_500.0
    assert observed_volume(parent, quote(12_000)) == 0.0  # a volume that went back counts 0
    assert parent.last_volume == 12_000


def test_pov_sizes_a_slice_from_observed_volume_and_takes_the_excess_off_the_last_slices() -> None:
    parent = running(make(40, "POV", participation_rate=0.2, max_child_orders=4, horizon_s=600))
    pov = algorithm_for(ExecutionAlgo.POV)
    planned_sizes = [c.quantity for c in parent.children]
    # The first quote measures nothing yet: the first slice keeps its plan, and fills.
    assert pov.size_slice(parent, due_slice(parent, 0, quote(100_000))) == planned_sizes[0]
    fill(parent, parent.children[0])
    # 0.2/0.8 * 6,500 = 1,625 -> 25 lots: 15 more than the second slice's plan, taken off the
    # last slice (all 10 of its lots, dropping it) and then the one before (5 of its 10)
    assert planned_sizes == [10 * NIFTY_LOT] * 4
    target = pov.size_slice(parent, due_slice(parent, 1, quote(106_500)))
    assert target == 25 * NIFTY_LOT
    later = [c.quantity for c in parent.children if c.slice_index > 1]
    assert later == [5 * NIFTY_LOT]


def test_pov_sends_nothing_while_the_market_is_too_thin() -> None:
    parent = running(make(40, "POV", participation_rate=0.1, max_child_orders=4, horizon_s=600))
    pov = algorithm_for(ExecutionAlgo.POV)
    pov.size_slice(parent, due_slice(parent, 0, quote(100_000)))
    assert pov.size_slice(parent, due_slice(parent, 1, quote(100_100))) == 0


def test_trim_later_drops_a_child_cut_to_nothing() -> None:
    parent = running(make(40, "TWAP", max_child_orders=4, horizon_s=600))
    later = parent.children[1:]
    trim_later(parent, later, 12 * NIFTY_LOT)
    assert [c.quantity // NIFTY_LOT for c in parent.children] == [10, 10, 8]


def test_forecast_volume_extrapolates_the_session_so_far_over_the_window() -> None:
    curve = VolumeCurve.load()
    plan = PLANNER.plan(make(40, "POV", horizon_s=600), now=NOW, seed=1,
                        session_seconds=session_seconds)
    so_far = curve.fraction(0.0, NOW - OPEN)
    expected = 1_000_000 / so_far * curve.fraction(NOW - OPEN, NOW - OPEN + 600)
    forecast = forecast_volume(plan, quote(1_000_000), curve, session_seconds)
    assert forecast == pytest.approx(expected)
    assert forecast_volume(plan, quote(0), curve, session_seconds) is None
    assert forecast_volume(plan, quote(1_000, at=OPEN + 1), curve, session_seconds) is None


def test_pov_plans_again_with_the_forecast_from_its_first_quote() -> None:
    parent = running(make(40, "POV", participation_rate=0.01, horizon_s=600))
    replanner = Replanner(PLANNER, session_seconds, seed=1)
    pov = algorithm_for(ExecutionAlgo.POV)
    assert pov.before_first_slice(parent, None, replanner) is parent.plan
    plan = pov.before_first_slice(parent, quote(1_000_000), replanner)
    assert plan.expected_market_volume is not None and plan.expected_market_volume > 0
    assert any("cannot complete" in w for w in plan.warnings)
    assert plan.start_at == parent.plan.start_at


# ---------------------------------------------------------------------- pov_child_quantity


def test_pov_child_quantity_targets_rho_over_one_minus_rho() -> None:
    req = make(100, "POV", participation_rate=0.15, max_child_orders=10, horizon_s=600)
    # 0.15/0.85 * 1000 = 176.5 -> 2 lots (130), rounded down
    assert pov_child_quantity(req, 1000.0, req.quantity) == 130
    # clipped at the freeze-limited maximum
    assert pov_child_quantity(req, 1e6, req.quantity) == NIFTY_MAX
    # capped at what is left
    assert pov_child_quantity(req, 1e6, 195) == 195
    # too thin for one lot: nothing this slice
    assert pov_child_quantity(req, 300.0, req.quantity) == 0
    assert pov_child_quantity(req, 0.0, req.quantity) == 0
    assert pov_child_quantity(req, -50.0, req.quantity) == 0
    assert pov_child_quantity(req, 1e6, 0) == 0


def test_pov_child_quantity_respects_explicit_clips() -> None:
    req = make(100, "POV", participation_rate=0.2, min_child_quantity=5 * NIFTY_LOT,
               max_child_quantity=10 * NIFTY_LOT, max_child_orders=10, horizon_s=600)
    # 0.25 * 1040 = 260 = 4 lots, below the 5-lot minimum: too thin
    assert pov_child_quantity(req, 1040.0, req.quantity) == 0
    assert pov_child_quantity(req, 1300.0, req.quantity) == 5 * NIFTY_LOT
    assert pov_child_quantity(req, 1e6, req.quantity) == 10 * NIFTY_LOT
    # the parent's tail (2 lots left) is below the minimum but still goes out
    assert pov_child_quantity(req, 1e6, 2 * NIFTY_LOT) == 2 * NIFTY_LOT
    assert pov_child_quantity(req, 100.0, 2 * NIFTY_LOT) == 0


def test_pov_child_quantity_full_participation_takes_the_maximum() -> None:
    req = make(100, "POV", participation_rate=1.0, max_child_orders=10, horizon_s=600)
    assert pov_child_quantity(req, 1.0, req.quantity) == NIFTY_MAX


def test_pov_child_quantity_never_sends_above_the_freeze_even_when_max_child_quantity_is_larger(
        ) -> None:
    # a 40-lot max_child_quantity over a 27-lot freeze: the freeze wins (Kite rejects more)
    req = make(100, "POV", participation_rate=0.5, max_child_quantity=40 * NIFTY_LOT,
               max_child_orders=10, horizon_s=600)
    assert pov_child_quantity(req, 1e6, req.quantity) == NIFTY_MAX
    assert pov_child_quantity(req, 30 * NIFTY_LOT, req.quantity) == NIFTY_MAX
