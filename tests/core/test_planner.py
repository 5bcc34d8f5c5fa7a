"""ExecutionAlgoPlanner: the scheduling contract, rule by rule."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import numpy as np
import pytest

from imperium_exec.algos.plan import (
    ExecutionPlan,
    PlannedChild,
    PlannerParams,
    ScheduleError,
    split_by_freeze,
)
from imperium_exec.algos.planner import ExecutionAlgoPlanner, allocate_lots
from imperium_exec.costs.almgren_chriss import optimal_trades
from imperium_exec.request import (
    DEFAULT_HORIZON_S,
    MIN_SLICE_INTERVAL_S,
    ExecutionAlgo,
    ExecutionRequest,
    Urgency,
)
from imperium_exec.timeutil import IST
from imperium_exec.volume_curve import VolumeCurve

NIFTY_LOT = 65
NIFTY_MAX = 1755  # 27 lots under the 1800 freeze
OPEN = dt.datetime(2026, 3, 10, 9, 15, tzinfo=IST).timestamp()
NOW = OPEN + 45 * 60  # 10:00 IST


def make(lots: int = 40, algo: str = "TWAP", **kw: Any) -> ExecutionRequest:
    fields: dict[str, Any] = {
        "tradingsymbol": "NIFTY26D0125000CE", "exchange": "NFO", "side": "BUY",
        "quantity": lots * NIFTY_LOT, "lot_size": NIFTY_LOT, "tick_size": 0.05,
        "freeze_quantity": 1800, "execution_algo": algo, "randomize_slices": False,
    }
    fields.update(kw)
    return ExecutionRequest(**fields)


def at(seconds_after_now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(NOW + seconds_after_now, IST)


def slice_lots(plan: ExecutionPlan) -> list[int]:
    """Lots per time slice (freeze splits summed back)."""
    out = [0] * plan.slice_count
    for child in plan.children:
        out[child.slice_index] += child.quantity // NIFTY_LOT
    return out


def slice_times(plan: ExecutionPlan) -> list[float]:
    seen: dict[int, float] = {}
    for child in plan.children:
        seen.setdefault(child.slice_index, child.send_at)
    return [seen[k] for k in sorted(seen)]


def assert_invariants(plan: ExecutionPlan, request: ExecutionRequest) -> None:
    assert plan.quantity == request.quantity
    assert [c.index for c in plan.children] == list(range(len(plan.children)))
    for c in plan.children:
        assert c.quantity > 0 and c.quantity % request.lot_size == 0
        assert c.quantity <= request.max_order_quantity
        assert plan.start_at <= c.send_at <= plan.end_at
    times = [c.send_at for c in plan.children]
    assert times == sorted(times)


planner = ExecutionAlgoPlanner()


# ---------------------------------------------------------------------- small pieces


def test_schedule_error_carries_field_and_reason() -> None:
    err = ScheduleError("end_at", "2026-03-10T09:00:00+05:30 is already over")
    assert isinstance(err, ValueError)
    assert err.field == "end_at" and err.reason.endswith("already over")
    assert str(err) == "end_at: 2026-03-10T09:00:00+05:30 is already over"


@pytest.mark.parametrize(("lots", "expected_lots"), [
    (1, [1]), (27, [27]), (28, [14, 14]), (54, [27, 27]), (55, [19, 18, 18]), (0, []),
])
def test_split_by_freeze_fewest_near_equal_orders(lots: int, expected_lots: list[int]) -> None:
    orders = split_by_freeze(lots * NIFTY_LOT, NIFTY_LOT, NIFTY_MAX)
    assert orders == [x * NIFTY_LOT for x in expected_lots]


def test_split_by_freeze_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="quantity"):
        split_by_freeze(100, NIFTY_LOT, NIFTY_MAX)
    with pytest.raises(ValueError, match="max_order_quantity"):
        split_by_freeze(130, NIFTY_LOT, 60)
    with pytest.raises(ValueError, match="lot_size"):
        split_by_freeze(130, 0, NIFTY_MAX)


def test_allocate_lots_rounds_the_cumulative_quota() -> None:
    assert allocate_lots(10, [1, 1, 1]) == [3, 4, 3]  # cumulative 3.3, 6.7, 10
    assert allocate_lots(3, [1, 1]) == [2, 1]  # a half rounds up: ties front-load
    assert allocate_lots(5, [1, 1]) == [3, 2]  # 2.5 -> 3, not to the even 2
    assert allocate_lots(10, [0.5, 0.3, 0.2]) == [5, 3, 2]
    assert allocate_lots(7, [0.34, 0.33, 0.33]) == [2, 3, 2]
    assert allocate_lots(3, [0.1, 0.45, 0.45]) == [0, 2, 1]
    assert allocate_lots(0, [1, 2]) == [0, 0]
    assert allocate_lots(5, [0, 1]) == [0, 5]
    for bad in ([], [0, 0], [1, -1], [1, math.inf]):
        with pytest.raises(ValueError, match="weights"):
            allocate_lots(5, bad)
    with pytest.raises(ValueError, match="total_lots"):
        allocate_lots(-1, [1])


def test_allocate_lots_rounds_ties_up_so_early_slices_are_never_smaller() -> None:
    # An odd parent over two equal slices is a tie at every size: the first slice takes the
    # extra lot (round half up), never the even neighbour (round half to even).
    for k in range(50):
        assert allocate_lots(2 * k + 1, [1, 1]) == [k + 1, k]
    # Ties deeper in the schedule front-load too: cumulative 0.5, 1.0, 1.5, 2.0 -> 1, 1, 2, 2.
    assert allocate_lots(2, [1, 1, 1, 1]) == [1, 0, 1, 0]


def test_planner_params_are_validated() -> None:
    params = PlannerParams()
    assert params.is_kappa_t[Urgency.NORMAL] == 1.0 and params.is_kappa_t[Urgency.HIGH] == 4.0
    with pytest.raises(TypeError):
        params.is_kappa_t[Urgency.HIGH] = 9.0  # type: ignore[index]
    with pytest.raises(ValueError, match="size_jitter"):
        PlannerParams(size_jitter=1.0)
    with pytest.raises(ValueError, match="time_jitter"):
        PlannerParams(time_jitter=0.5)
    with pytest.raises(ValueError, match="is_kappa_t"):
        PlannerParams(is_kappa_t={Urgency.NORMAL: 1.0})
    with pytest.raises(ValueError, match="is_kappa_t"):
        PlannerParams(is_kappa_t={Urgency.NORMAL: 1.0, Urgency.HIGH: -1.0})
    with pytest.raises(ValueError, match="pov_interval_s"):
        PlannerParams(pov_interval_s=0.5)


def test_plan_properties() -> None:
    children = (PlannedChild(0, 0, 130, 1.0), PlannedChild(1, 0, 65, 1.0),
                PlannedChild(2, 1, 65, 2.0))
    plan = ExecutionPlan(ExecutionAlgo.TWAP, children, 1.0, 3.0, 0.15, False, None, ())
    assert plan.quantity == 260 and plan.slice_count == 2


# ---------------------------------------------------------------------- window


def test_window_from_horizon_starts_now() -> None:
    plan = planner.plan(make(horizon_s=600, max_child_orders=4), now=NOW, seed=1)
    assert (plan.start_at, plan.end_at) == (NOW, NOW + 600)


def test_window_default_horizon_for_scheduled_algos() -> None:
    plan = planner.plan(make(max_child_orders=4), now=NOW, seed=1)
    assert plan.end_at - plan.start_at == DEFAULT_HORIZON_S


def test_window_future_start_with_horizon_and_with_end() -> None:
    plan = planner.plan(make(start_at=at(120), horizon_s=300, max_child_orders=5), now=NOW, seed=1)
    assert (plan.start_at, plan.end_at) == (NOW + 120, NOW + 420)
    assert slice_times(plan) == [NOW + 120 + 60 * k for k in range(5)]
    plan = planner.plan(make(start_at=at(60), end_at=at(660), max_child_orders=3), now=NOW, seed=1)
    assert (plan.start_at, plan.end_at) == (NOW + 60, NOW + 660)


def test_window_end_at_without_start() -> None:
    plan = planner.plan(make(end_at=at(900), max_child_orders=3), now=NOW, seed=1)
    assert (plan.start_at, plan.end_at) == (NOW, NOW + 900)


def test_past_start_is_clamped_to_now_and_keeps_the_fixed_end() -> None:
    req = make(start_at=at(-200), horizon_s=500, max_child_orders=3)
    plan = planner.plan(req, now=NOW, seed=1)
    assert (plan.start_at, plan.end_at) == (NOW, NOW + 300)
    assert slice_times(plan) == [NOW, NOW + 100, NOW + 200]
    assert any("has passed" in w for w in plan.warnings)


def test_window_already_over_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError) as info:
        planner.plan(make(start_at=at(-900), end_at=at(-60), max_child_orders=3),
                     now=NOW, seed=1)
    assert info.value.field == "end_at"
    assert str(info.value).startswith("end_at: 2026-03-10T09:59:00+05:30 is already over")
    with pytest.raises(ScheduleError, match=r"^end_at: .* already over"):
        planner.plan(make(start_at=at(-900), horizon_s=600, max_child_orders=3), now=NOW, seed=1)
    with pytest.raises(ScheduleError, match=r"^end_at"):
        planner.plan(make(end_at=at(0), max_child_orders=3), now=NOW, seed=1)
    with pytest.raises(ScheduleError, match=r"^end_at"):  # IMMEDIATE with a deadline passed
        planner.plan(make(algo="IMMEDIATE", end_at=at(-1)), now=NOW, seed=1)


def test_window_too_short_after_clamping_is_a_schedule_error() -> None:
    # 40 slices over 100 s was valid when asked for; 10 s are left now
    req = make(start_at=at(-90), horizon_s=100, max_child_orders=40)
    with pytest.raises(ScheduleError) as info:
        planner.plan(req, now=NOW, seed=1)
    assert info.value.field == "max_child_orders"
    assert f"{MIN_SLICE_INTERVAL_S:g} s apart" in info.value.reason
    # fewer lots than slices means fewer slices, which may fit
    plan = planner.plan(make(5, start_at=at(-90), horizon_s=100, max_child_orders=40),
                        now=NOW, seed=1)
    assert plan.slice_count == 5


# ---------------------------------------------------------------------- IMMEDIATE


def test_immediate_is_one_slice_at_start_split_at_the_freeze() -> None:
    req = make(60, "IMMEDIATE", randomize_slices=True, max_child_orders=10, horizon_s=600)
    plan = planner.plan(req, now=NOW, seed=99)
    assert plan.start_at == plan.end_at == NOW
    assert plan.slice_count == 1
    assert [c.quantity for c in plan.children] == [20 * 65, 20 * 65, 20 * 65]
    assert {c.send_at for c in plan.children} == {NOW}
    assert not plan.dynamic_sizing and plan.warnings == ()
    assert_invariants(plan, req)
    # randomisation never touches IMMEDIATE
    assert planner.plan(req, now=NOW, seed=5) == plan


def test_immediate_waits_for_a_future_start() -> None:
    plan = planner.plan(make(3, "IMMEDIATE", start_at=at(30)), now=NOW, seed=1)
    assert plan.start_at == plan.end_at == NOW + 30
    assert [(c.quantity, c.send_at) for c in plan.children] == [(195, NOW + 30)]


# ---------------------------------------------------------------------- TWAP


def test_twap_equal_lots_at_equal_intervals() -> None:
    req = make(40, "TWAP", horizon_s=600, max_child_orders=6)
    plan = planner.plan(req, now=NOW, seed=1)
    assert slice_lots(plan) == [7, 6, 7, 7, 6, 7]  # cumulative 6.7, 13.3, 20, ... rounded
    assert slice_times(plan) == [NOW + 100 * k for k in range(6)]
    assert not plan.dynamic_sizing
    assert_invariants(plan, req)


def test_twap_small_parent_goes_in_fewer_slices() -> None:
    plan = planner.plan(make(3, "TWAP", horizon_s=600, max_child_orders=10), now=NOW, seed=1)
    assert slice_lots(plan) == [1, 1, 1]
    assert slice_times(plan) == [NOW, NOW + 200, NOW + 400]
    assert any("only 3 lots: 3 slices instead of 10" in w for w in plan.warnings)
    plan = planner.plan(make(1, "TWAP", horizon_s=600, max_child_orders=10), now=NOW, seed=1)
    assert [(c.quantity, c.send_at) for c in plan.children] == [(65, NOW)]


def test_slice_above_the_freeze_is_split_sharing_slice_and_time() -> None:
    req = make(110, "TWAP", horizon_s=300, max_child_orders=2)  # 55 lots a slice
    plan = planner.plan(req, now=NOW, seed=1)
    assert [(c.index, c.slice_index, c.quantity // 65, c.send_at - NOW)
            for c in plan.children] == [
        (0, 0, 19, 0.0), (1, 0, 18, 0.0), (2, 0, 18, 0.0),
        (3, 1, 19, 150.0), (4, 1, 18, 150.0), (5, 1, 18, 150.0)]
    assert_invariants(plan, req)


# ---------------------------------------------------------------------- VWAP


def test_vwap_full_session_follows_the_curve() -> None:
    curve = VolumeCurve.load("expiry")  # 10 Mar 2026 is a Tuesday: NIFTY's weekly expiry
    lots = 10_000
    req = make(lots, "VWAP", start_at=dt.datetime.fromtimestamp(OPEN, IST), horizon_s=22_500,
               max_child_orders=25, freeze_quantity=10**6)
    plan = planner.plan(req, now=OPEN - 60, seed=1)
    assert slice_lots(plan) == allocate_lots(lots, list(curve.bin_shares))
    np.testing.assert_allclose(np.array(slice_lots(plan)) / lots, curve.bin_shares, atol=1e-4)
    assert slice_times(plan) == [OPEN + 900 * k for k in range(25)]
    assert plan.warnings == ()


def test_vwap_uses_the_given_session_mapping() -> None:
    # a custom clock: the window is the last hour of the session on an expiry curve
    curve = VolumeCurve.load("expiry")
    planner_exp = ExecutionAlgoPlanner(volume_curve=curve)
    req = make(280, "VWAP", horizon_s=3600, max_child_orders=4)
    plan = planner_exp.plan(req, now=1000.0, seed=1,
                            session_seconds=lambda t: 22_500 - 3600 + (t - 1000.0))
    assert slice_lots(plan) == allocate_lots(280, list(curve.bin_shares[-4:]))
    assert slice_lots(plan) == [57, 63, 75, 85]


def test_vwap_in_the_morning_is_front_loaded_and_differs_from_twap() -> None:
    req = make(100, "VWAP", start_at=dt.datetime.fromtimestamp(OPEN, IST), horizon_s=3600,
               max_child_orders=4)
    plan = planner.plan(req, now=OPEN, seed=1)
    lots = slice_lots(plan)
    assert lots == sorted(lots, reverse=True) and lots[0] > lots[-1]
    shares = VolumeCurve.load("normal").bin_shares[:4]
    assert lots == allocate_lots(100, list(shares))


def test_vwap_outside_the_session_uses_edge_rates_and_warns() -> None:
    evening = OPEN + 10 * 3600  # 19:15 IST
    plan = planner.plan(make(40, "VWAP", horizon_s=600, max_child_orders=4), now=evening, seed=1)
    assert slice_lots(plan) == [10, 10, 10, 10]  # a flat rate: equal slices
    assert any("outside the 09:15-15:30 session" in w for w in plan.warnings)


def test_vwap_across_the_open_weights_pre_open_at_the_opening_rate() -> None:
    curve = VolumeCurve.load("normal")
    rate0 = curve.bin_shares[0] / 900
    req = make(1000, "VWAP", start_at=dt.datetime.fromtimestamp(OPEN - 900, IST),
               horizon_s=1800, max_child_orders=2, freeze_quantity=10**6)
    plan = planner.plan(req, now=OPEN - 1000, seed=1)
    assert slice_lots(plan) == allocate_lots(1000, [900 * rate0, curve.bin_shares[0]])
    assert slice_lots(plan) == [500, 500]


def test_vwap_slice_across_midnight_keeps_its_duration_and_is_never_skipped() -> None:
    # 23:50 to 00:10 IST in four slices on the default wall-clock mapping: the second slice
    # ends at midnight, where session seconds wrap from after the close to before the open.
    # It still weighs its five minutes at the closing rate; the two after midnight trade at the
    # opening rate.
    curve = VolumeCurve.load("expiry")  # 10 Mar 2026 is a Tuesday: NIFTY's weekly expiry
    midnight = dt.datetime(2026, 3, 11, 0, 0, tzinfo=IST).timestamp()
    req = make(400, "VWAP", horizon_s=1200, max_child_orders=4, freeze_quantity=10**6)
    plan = planner.plan(req, now=midnight - 600, seed=1)
    first_rate = curve.bin_shares[0] / 900
    last_rate = curve.bin_shares[-1] / 900
    expected = allocate_lots(400, [300 * last_rate] * 2 + [300 * first_rate] * 2)
    assert slice_lots(plan) == expected
    assert plan.slice_count == 4
    assert not any("got no lots" in w for w in plan.warnings)


def test_vwap_slice_straddling_midnight_weighs_its_whole_duration() -> None:
    # A slice from 23:57:30 to 00:02:30 IST: its end maps to before its start; it is weighed
    # as five minutes after the close, the same as the slices before it.
    midnight = dt.datetime(2026, 3, 11, 0, 0, tzinfo=IST).timestamp()
    req = make(30, "VWAP", horizon_s=900, max_child_orders=3, freeze_quantity=10**6)
    plan = planner.plan(req, now=midnight - 750, seed=1)
    assert slice_lots(plan) == [10, 10, 10]


def test_vwap_with_a_curve_empty_in_the_window_falls_back_to_equal() -> None:
    curve = VolumeCurve([1.0, 0.0, 0.0, 1.0], bin_seconds=900)
    p = ExecutionAlgoPlanner(volume_curve=curve)
    plan = p.plan(make(9, "VWAP", horizon_s=900, max_child_orders=3), now=0.0, seed=1,
                  session_seconds=lambda t: 1000 + t)
    assert slice_lots(plan) == [3, 3, 3]
    assert any("no volume in the window" in w for w in plan.warnings)


# ---------------------------------------------------------------------- IS


@pytest.mark.parametrize(("urgency", "kappa_t"), [("normal", 1.0), ("high", 4.0)])
def test_is_follows_the_almgren_chriss_trajectory(urgency: str, kappa_t: float) -> None:
    req = make(400, "IS", horizon_s=600, max_child_orders=8, execution_urgency=urgency,
               freeze_quantity=10**6)
    plan = planner.plan(req, now=NOW, seed=1)
    expected = allocate_lots(400, list(optimal_trades(1.0, 1.0, 8, kappa_t)))
    assert slice_lots(plan) == expected
    assert expected == sorted(expected, reverse=True)  # front-loaded
    assert slice_times(plan) == [NOW + 75 * k for k in range(8)]
    # n_1 / n_N = cosh(κ(T − τ/2)) / cosh(κτ/2)
    ratio = math.cosh(kappa_t * 15 / 16) / math.cosh(kappa_t / 16)
    assert expected[0] / expected[-1] == pytest.approx(ratio, rel=0.05)


def test_is_high_urgency_trades_faster_than_normal() -> None:
    normal = slice_lots(planner.plan(make(200, "IS", horizon_s=600, max_child_orders=5),
                                     now=NOW, seed=1))
    high = slice_lots(planner.plan(make(200, "IS", horizon_s=600, max_child_orders=5,
                                        execution_urgency="high"), now=NOW, seed=1))
    assert high[0] > normal[0] and high[-1] < normal[-1]


def test_is_with_zero_urgency_is_twap_and_extreme_urgency_drops_empty_slices() -> None:
    twap_like = ExecutionAlgoPlanner(params=PlannerParams(
        is_kappa_t={Urgency.NORMAL: 0.0, Urgency.HIGH: 50.0}))
    plan = twap_like.plan(make(40, "IS", horizon_s=600, max_child_orders=4), now=NOW, seed=1)
    assert slice_lots(plan) == [10, 10, 10, 10]
    plan = twap_like.plan(make(10, "IS", horizon_s=600, max_child_orders=5,
                               execution_urgency="high"), now=NOW, seed=1)
    assert slice_lots(plan) == [10]  # everything in the first slice at κT = 50
    assert plan.slice_count == 1 and plan.children[0].send_at == NOW
    assert any("4 of 5 slices got no lots" in w for w in plan.warnings)


# ---------------------------------------------------------------------- POV


def test_pov_slices_from_the_interval_and_sizes_by_forecast() -> None:
    curve = VolumeCurve.load("expiry")  # 10 Mar 2026 is a Tuesday: NIFTY's weekly expiry
    req = make(100, "POV", start_at=dt.datetime.fromtimestamp(OPEN, IST), horizon_s=3600,
               participation_rate=0.1)
    plan = planner.plan(req, now=OPEN, seed=1, expected_market_volume=1e6)
    assert plan.dynamic_sizing
    assert plan.expected_market_volume == 1e6
    # 120 slices by the 30 s interval, capped at 100 lots; where the curve is thinnest a
    # slice's quota is under a lot, so ten slices get none (and a warning says so)
    assert plan.slice_count == 90
    assert any("10 of 100 slices got no lots" in w for w in plan.warnings)
    req = make(400, "POV", start_at=dt.datetime.fromtimestamp(OPEN, IST), horizon_s=3600,
               participation_rate=0.1, freeze_quantity=10**6)
    plan = planner.plan(req, now=OPEN, seed=1, expected_market_volume=1e6)
    assert plan.slice_count == 120
    assert slice_times(plan) == [OPEN + 30 * k for k in range(120)]
    # forecast volume per slice follows the curve: the first 15 min outweigh the fourth
    lots = slice_lots(plan)
    assert sum(lots[:30]) > sum(lots[90:])
    shares = np.array([curve.fraction(30 * k, 30 * (k + 1)) for k in range(120)])
    quotas = 400 * shares / shares.sum()
    assert np.all(np.abs(np.array(lots) - quotas) < 1)  # each slice within a lot
    # and every prefix of the schedule within half a lot of its target
    assert np.all(np.abs(np.cumsum(lots) - np.cumsum(quotas)) <= 0.5 + 1e-9)
    assert sum(lots[:30]) == pytest.approx(quotas[:30].sum(), abs=30)
    assert plan.warnings == ()


def test_pov_with_max_child_orders_uses_them() -> None:
    plan = planner.plan(make(100, "POV", horizon_s=300, max_child_orders=5), now=NOW, seed=1,
                        expected_market_volume=1e6)
    assert plan.slice_count == 5
    assert slice_times(plan) == [NOW + 60 * k for k in range(5)]
    assert plan.dynamic_sizing and plan.participation_rate == 0.15


def test_pov_interval_param_and_slice_cap() -> None:
    p = ExecutionAlgoPlanner(params=PlannerParams(pov_interval_s=60.0, max_pov_slices=7))
    plan = p.plan(make(100, "POV", horizon_s=300), now=NOW, seed=1, expected_market_volume=1e6)
    assert plan.slice_count == 5
    plan = p.plan(make(100, "POV", horizon_s=3000), now=NOW, seed=1, expected_market_volume=1e6)
    assert plan.slice_count == 7


def test_pov_warns_when_the_forecast_cannot_complete_the_parent() -> None:
    req = make(20, "POV", horizon_s=300, participation_rate=0.15)  # 1,300 units
    plan = planner.plan(req, now=NOW, seed=1, expected_market_volume=5000.0)
    assert plan.warnings == ("POV at 15% cannot complete 1,300 in 300 s: forecast market "
                             "volume 5,000 allows about 750",)
    assert plan.quantity == 1300  # still planned in full; the engine sizes from volume
    ok = planner.plan(req, now=NOW, seed=1, expected_market_volume=10_000.0)
    assert ok.warnings == ()


def test_pov_warns_without_a_forecast() -> None:
    plan = planner.plan(make(20, "POV", horizon_s=300), now=NOW, seed=1)
    assert plan.expected_market_volume is None
    assert len(plan.warnings) == 1 and plan.warnings[0].startswith("no volume forecast: ")


def test_negative_forecast_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"^expected_market_volume"):
        planner.plan(make(20, "POV", horizon_s=300), now=NOW, seed=1,
                     expected_market_volume=-1.0)


# ---------------------------------------------------------------------- randomisation


@pytest.mark.parametrize("algo", ["TWAP", "VWAP", "IS", "POV"])
def test_randomisation_is_deterministic_per_seed(algo: str) -> None:
    req = make(200, algo, horizon_s=900, max_child_orders=10, randomize_slices=True)
    a = planner.plan(req, now=NOW, seed=42, expected_market_volume=1e6)
    b = planner.plan(req, now=NOW, seed=42, expected_market_volume=1e6)
    c = planner.plan(req, now=NOW, seed=43, expected_market_volume=1e6)
    assert a == b
    assert a.children != c.children
    plain = planner.plan(req.model_copy(update={"randomize_slices": False}), now=NOW, seed=42,
                         expected_market_volume=1e6)
    assert a.children != plain.children
    assert_invariants(a, req)


def test_randomisation_bounds() -> None:
    req = make(400, "TWAP", horizon_s=1000, max_child_orders=10, randomize_slices=True,
               freeze_quantity=10**6)
    nominal = [40] * 10
    interval = 100.0
    moved_sizes = moved_times = False
    for seed in range(50):
        plan = planner.plan(req, now=NOW, seed=seed)
        lots = slice_lots(plan)
        times = slice_times(plan)
        assert sum(lots) == 400 and len(lots) == 10
        assert all(abs(x - 40) <= 10 for x in lots)  # 25% of 40 lots
        assert times[0] == NOW  # the first slice keeps its time
        for k, t in enumerate(times):
            assert abs(t - (NOW + k * interval)) <= 0.3 * interval + 1e-9
        assert all(b - a >= MIN_SLICE_INTERVAL_S for a, b in itertools.pairwise(times))
        moved_sizes |= lots != nominal
        moved_times |= times != [NOW + k * interval for k in range(10)]
    assert moved_sizes and moved_times


def test_randomisation_never_empties_a_slice_and_leaves_small_slices_alone() -> None:
    # 3 lots a slice: 25% is less than one lot, so sizes cannot move
    req = make(30, "TWAP", horizon_s=600, max_child_orders=10, randomize_slices=True)
    for seed in range(20):
        assert slice_lots(planner.plan(req, now=NOW, seed=seed)) == [3] * 10


def test_time_jitter_shrinks_to_keep_slices_apart() -> None:
    # 10 slices over 15 s: 1.5 s apart, so jitter is at most 0.25 s each way
    req = make(10, "TWAP", horizon_s=15, max_child_orders=10, randomize_slices=True)
    for seed in range(20):
        times = slice_times(planner.plan(req, now=NOW, seed=seed))
        assert all(b - a >= MIN_SLICE_INTERVAL_S - 1e-9
                   for a, b in itertools.pairwise(times))
        assert times[-1] < NOW + 15
    # and when slices are exactly MIN_SLICE_INTERVAL_S apart times do not move at all
    tight = make(10, "TWAP", horizon_s=10, max_child_orders=10, randomize_slices=True)
    assert slice_times(planner.plan(tight, now=NOW, seed=3)) == [NOW + k for k in range(10)]


def test_negative_and_huge_seeds_work() -> None:
    req = make(100, "TWAP", horizon_s=600, max_child_orders=5, randomize_slices=True)
    for seed in (-1, 0, 2**63, 2**70 + 5):
        assert planner.plan(req, now=NOW, seed=seed).quantity == req.quantity
