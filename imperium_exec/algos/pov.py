"""POV (percentage of volume): trade a fixed share of the market's volume as it happens.

Planning: the window is cut into ``max_child_orders`` slices, or one per
``PlannerParams.pov_interval_s`` when the request leaves ``max_child_orders`` at 1, weighted by
the volume curve; the trader is warned when the forecast volume cannot complete the parent at
the requested participation.

Running: once the first quote is in hand the parent is planned again with a forecast of the
window's market volume from the session's volume so far. Each slice is then sized from the
volume the market traded since the previous slice (:func:`pov_child_quantity`); when that is
more than the plan had for the slice, the excess comes off the last planned slices, and when
no volume can be measured yet the slice keeps its plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .base import Algorithm, DueSlice, PlanInputs, Replanner, RunningParent, SliceChild, Weights
from .names import ExecutionAlgo
from .vwap import volume_curve_weights

if TYPE_CHECKING:
    from ..brokers.base import Quote
    from ..request import ExecutionRequest
    from ..volume_curve import VolumeCurve
    from .plan import ExecutionPlan


def pov_child_quantity(request: ExecutionRequest, observed_volume: float, remaining: int) -> int:
    """POV runtime sizing: ``rho/(1-rho)`` times the other-volume observed since the last slice.

    Trading ``q = rho/(1-rho) * V_others`` makes us ``rho`` of total volume including our own.
    The result is capped at ``max_child_quantity`` (default, and never above,
    ``request.max_order_quantity``: a child above the freeze limit would be rejected) and at
    ``remaining``, rounded DOWN to lots. ``min_child_quantity`` (default one lot) is a
    threshold, not a floor: below it the market is too thin and 0 is returned (nothing sent
    this slice) rather than exceeding the participation target. The exception is the parent's
    tail: when ``remaining`` itself is below the minimum, it goes out once the volume allows.
    """
    if remaining < 0:
        raise ValueError(f"remaining: {remaining} must be non-negative")
    if not math.isfinite(observed_volume):
        raise ValueError(f"observed_volume: {observed_volume} must be finite")
    lot = request.lot_size
    rho = request.participation_rate
    other = max(0.0, observed_volume)
    target = math.inf if rho >= 1.0 else rho / (1.0 - rho) * other
    max_child = request.max_child_quantity or request.max_order_quantity
    min_child = request.min_child_quantity or lot
    cap = min(max_child, request.max_order_quantity, remaining)
    units = min(target, float(cap))
    quantity = math.floor(units / lot + 1e-9) * lot
    if quantity <= 0 or quantity < min(min_child, cap):
        return 0
    return quantity


def observed_volume(parent: RunningParent, quote: Quote | None) -> float | None:
    """Market volume traded since the previous slice's quote, and remember this one's.

    None when there is no quote, or on the first (nothing to measure from yet)."""
    if quote is None:
        return None
    previous = parent.last_volume
    parent.last_volume = quote.volume
    if previous is None:
        return None
    return float(max(0, quote.volume - previous))


def forecast_volume(plan: ExecutionPlan, quote: Quote | None, curve: VolumeCurve,
                    session_seconds: Callable[[float], float]) -> float | None:
    """Market volume expected over the plan's window, from the session's volume so far.

    None without a quote, without volume, or too early in the session (under 1% of the
    curve's volume behind us) to extrapolate."""
    if quote is None or quote.volume <= 0:
        return None
    elapsed = session_seconds(quote.timestamp)
    share_so_far = curve.fraction(0.0, elapsed)
    if share_so_far <= 0.01:
        return None
    start = session_seconds(plan.start_at)
    end = start + (plan.end_at - plan.start_at)
    return quote.volume / share_so_far * curve.fraction(start, end)


def trim_later(parent: RunningParent, later: Sequence[SliceChild], excess: int) -> None:
    """This slice sends more than planned: take the excess off the last planned slices
    (a child cut to nothing is dropped from the parent)."""
    for child in reversed(later):
        if excess <= 0:
            return
        cut = min(child.quantity, excess)
        child.quantity -= cut
        excess -= cut
        if child.quantity == 0:
            parent.children.remove(child)


class Pov(Algorithm):
    """Volume-curve plan, sized at run time from the market's observed volume."""

    algo = ExecutionAlgo.POV
    targets_participation = True
    uses_volume_curve = True
    sizes_at_run_time = True

    def slice_count(self, inputs: PlanInputs, length_s: float) -> int:
        request = inputs.request
        if request.max_child_orders != 1:
            return super().slice_count(inputs, length_s)
        params = inputs.params
        by_interval = max(1, math.ceil(length_s / params.pov_interval_s - 1e-9))
        return min(by_interval, params.max_pov_slices, request.lots)

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return volume_curve_weights(inputs, bounds)

    def pre_trade_warnings(self, inputs: PlanInputs, length_s: float) -> list[str]:
        request = inputs.request
        rho = request.participation_rate
        expected = inputs.expected_market_volume
        if expected is None:
            return [f"no volume forecast: POV at {rho * 100:g}% cannot be checked for "
                    "completion; the plan spreads the parent by the volume curve and the "
                    "engine sizes each slice from observed volume"]
        allowed = rho * expected
        if allowed < request.quantity:
            return [f"POV at {rho * 100:g}% cannot complete {request.quantity:,} in "
                    f"{length_s:g} s: forecast market volume {expected:,.0f} allows about "
                    f"{allowed:,.0f}"]
        return []

    def before_first_slice(self, parent: RunningParent, quote: Quote | None,
                           replanner: Replanner) -> ExecutionPlan:
        """Plan again with the window's volume forecast from the first quote; without a
        forecast the plan as made stands (it already warns that it has none)."""
        curve = parent.plan.volume_curve or replanner.volume_curve
        forecast = forecast_volume(parent.plan, quote, curve, replanner.session_seconds)
        if forecast is None and parent.plan.warnings:
            return parent.plan
        return replanner.plan_again(parent, expected_market_volume=forecast)

    def size_slice(self, parent: RunningParent, due: DueSlice) -> int:
        """The participation target on the volume since the previous slice; the slice's plan
        (with quantity given back) when no volume can be measured yet."""
        observed = observed_volume(parent, due.quote)
        remaining = max(0, parent.remaining)  # a late order's fills can overshoot
        target = (pov_child_quantity(parent.request, observed, remaining)
                  if observed is not None else max(0, min(due.planned_quantity, due.free)))
        trim_later(parent, due.later, target + due.later_quantity - parent.remaining)
        return target
