"""ExecutionAlgoPlanner: turn one parent ExecutionRequest into a schedule of child orders.

The plan is made once, before anything is sent, and is checked here rather than in the engine:

- the window is resolved against the clock (``start_at``/``end_at``/``horizon_s``, start clamped
  to now) and a window that is over, or too short for the slices asked, is a ScheduleError;
- the parent is cut into time slices and whole lots are allocated to them by the weights of
  the algorithm the request names (:mod:`imperium_exec.algos`: IMMEDIATE one slice; TWAP equal;
  VWAP and POV the volume curve; IS the Almgren–Chriss trajectory), rounding the cumulative
  quota so every prefix of the schedule stays within half a lot of its target;
- optional seeded randomisation moves whole lots between slices and jitters send times;
- every slice above the freeze-limited maximum order is split into near-equal child orders.

Invariants of every plan: the children sum exactly to the parent quantity, every child is a
positive lot multiple not above ``request.max_order_quantity``, and send times are
non-decreasing inside ``[start_at, end_at]``. Pure Python + numpy; no Qt, no clock of its own.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..request import (
    DEFAULT_HORIZON_S,
    MAX_ORDERS_PER_PARENT,
    MIN_SLICE_INTERVAL_S,
    ExecutionRequest,
)
from ..timeutil import IST
from ..volume_curve import VolumeCurve, VolumeCurveBook, nse_session_seconds
from .base import PlanInputs
from .plan import (
    ExecutionPlan,
    PlannedChild,
    PlannerParams,
    ScheduleError,
    SessionSeconds,
    split_by_freeze,
)
from .registry import algorithm_for

#: Float slack when comparing times and slice spacings computed from epoch floats.
_TIME_EPS = 1e-6


# ---------------------------------------------------------------------- quantity arithmetic


def allocate_lots(total_lots: int, weights: Sequence[float]) -> list[int]:
    """Allocate whole lots to weights by rounding the cumulative quota; sums exactly.

    Slot ``k`` gets ``round(C_k) - round(C_{k-1})`` where ``C_k`` is the cumulative quota
    ``total_lots * sum(w[:k+1]) / sum(w)`` (halves round up, so ties front-load). Every prefix of
    the schedule is therefore within half a lot of its target, which per-slot rounding (largest
    remainder) does not give: its errors can pile up over a long VWAP. Weights must be finite
    and non-negative with a positive sum.
    """
    if total_lots < 0:
        raise ValueError(f"total_lots: {total_lots} must be non-negative")
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size == 0:
        raise ValueError("weights: at least one weight is needed")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights: every weight must be finite and non-negative")
    total_w = float(w.sum())
    if total_w <= 0:
        raise ValueError("weights: the weights sum to zero")
    cumulative = total_lots * np.cumsum(w) / total_w
    cumulative[-1] = total_lots  # no float drift at the end
    rounded = np.floor(cumulative + 0.5).astype(np.int64)
    lots = np.diff(rounded, prepend=0)
    return [int(x) for x in lots]


# ---------------------------------------------------------------------- the planner


@dataclass(frozen=True, slots=True)
class _Window:
    start: float
    end: float
    warnings: tuple[str, ...]


class ExecutionAlgoPlanner:
    """Turns a parent :class:`ExecutionRequest` into an :class:`ExecutionPlan`.

    Stateless between calls and deterministic: the same request, ``now``, ``seed`` and inputs
    always give the same plan. The volume curve drives VWAP weights and the POV forecast: a
    ``volume_curve`` given here is used for every parent; otherwise ``volume_curves`` (default:
    the packaged profiles only) chooses per parent, by the contract's underlying and whether
    the day (IST, of ``now``) is an expiry day of it: the fitted curve when calibrated, else
    the packaged "expiry" or "normal" profile.
    """

    def __init__(self, volume_curve: VolumeCurve | None = None,
                 params: PlannerParams | None = None, *,
                 volume_curves: VolumeCurveBook | None = None) -> None:
        self._fixed_curve = volume_curve
        self.volume_curves = volume_curves if volume_curves is not None else VolumeCurveBook()
        #: The curve of an ordinary day (the fixed one when given).
        self.volume_curve = volume_curve if volume_curve is not None \
            else self.volume_curves.packaged("normal")
        self.params = params if params is not None else PlannerParams()

    def curve_for(self, request: ExecutionRequest, now: float) -> VolumeCurve:
        """The volume curve ``request`` is planned with at epoch ``now``."""
        if self._fixed_curve is not None:
            return self._fixed_curve
        day = dt.datetime.fromtimestamp(now, IST).date()
        return self.volume_curves.curve_for(request.tradingsymbol, day)

    def plan(self, request: ExecutionRequest, *, now: float, seed: int,
             session_seconds: SessionSeconds | None = None,
             expected_market_volume: float | None = None) -> ExecutionPlan:
        """Plan the children of ``request`` as of epoch ``now``.

        ``seed`` drives the randomisation (ignored when ``request.randomize_slices`` is off).
        ``session_seconds`` maps epoch seconds to seconds since the session open for the
        volume curve (default: IST wall clock, 09:15 open). ``expected_market_volume`` is the
        forecast total market volume over the window in units, for POV's feasibility check.
        Raises :class:`ScheduleError` when the window is over or too short for the slices.
        """
        if expected_market_volume is not None and not (
                math.isfinite(expected_market_volume) and expected_market_volume >= 0):
            raise ScheduleError("expected_market_volume",
                                f"{expected_market_volume} must be finite and non-negative")
        algorithm = algorithm_for(request.execution_algo)
        window = self._window(request, now, scheduled=algorithm.scheduled)
        curve = self.curve_for(request, now)
        inputs = PlanInputs(
            request=request, params=self.params, volume_curve=curve,
            session_seconds=session_seconds if session_seconds is not None
            else nse_session_seconds,
            expected_market_volume=expected_market_volume, warnings=list(window.warnings))
        warnings = inputs.warnings

        start, end = window.start, window.end
        length = end - start
        n = algorithm.slice_count(inputs, length)
        if n > 1 and length / n < MIN_SLICE_INTERVAL_S - _TIME_EPS:
            raise ScheduleError(
                "max_child_orders",
                f"{n} slices cannot fit in the {length:.3g} s left before "
                f"{_iso(end)} (slices must be at least {MIN_SLICE_INTERVAL_S:g} s apart)")
        bounds = start + length * np.arange(n + 1, dtype=np.float64) / n
        bounds[-1] = end
        weights = algorithm.weights(inputs, bounds)
        warnings.extend(algorithm.pre_trade_warnings(inputs, length))

        slice_lots = np.asarray(allocate_lots(request.lots, list(weights)), dtype=np.int64)
        send_times = bounds[:-1].copy()
        if request.randomize_slices and n > 1:
            rng = np.random.default_rng(seed % (1 << 64))
            slice_lots = _jitter_sizes(slice_lots, self.params.size_jitter, rng)
            send_times = _jitter_times(send_times, start, end, self.params.time_jitter, rng)

        return self._build(request, start, end, [int(x) for x in slice_lots],
                           [float(t) for t in send_times],
                           dynamic=algorithm.sizes_at_run_time,
                           expected_market_volume=expected_market_volume, warnings=warnings,
                           volume_curve=curve if algorithm.uses_volume_curve else None)

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _window(request: ExecutionRequest, now: float, *, scheduled: bool) -> _Window:
        """Resolve ``[start, end]`` in epoch seconds and refuse a window that is over; an
        algorithm that runs no schedule acts at the start (``end == start``)."""
        warnings: list[str] = []
        requested_start = request.start_at.timestamp() if request.start_at is not None else None
        if requested_start is not None and requested_start > now:
            start = requested_start
        else:
            start = now
            if requested_start is not None and requested_start < now - _TIME_EPS:
                warnings.append(f"start_at {_iso(requested_start)} has passed: starting now")

        if request.end_at is not None:
            end = request.end_at.timestamp()
            if end <= now:
                raise ScheduleError("end_at", f"{_iso(end)} is already over (now {_iso(now)})")
        else:
            horizon = request.horizon_s if request.horizon_s is not None else DEFAULT_HORIZON_S
            anchor = requested_start if requested_start is not None else now
            end = anchor + horizon
            if scheduled and end <= now:
                raise ScheduleError("end_at", f"{_iso(end)} (start_at + {horizon:g} s) is "
                                              f"already over (now {_iso(now)})")
        if not scheduled:
            end = start
        return _Window(start=start, end=end, warnings=tuple(warnings))

    @staticmethod
    def _build(request: ExecutionRequest, start: float, end: float, slice_lots: list[int],
               send_times: list[float], *, dynamic: bool,
               expected_market_volume: float | None, warnings: list[str],
               volume_curve: VolumeCurve | None = None) -> ExecutionPlan:
        """Drop empty slices, split each slice at the freeze limit, number the children."""
        lot = request.lot_size
        max_order = request.max_order_quantity
        children: list[PlannedChild] = []
        kept = 0
        for lots, send_at in zip(slice_lots, send_times, strict=True):
            if lots <= 0:
                continue
            for quantity in split_by_freeze(lots * lot, lot, max_order):
                children.append(PlannedChild(index=len(children), slice_index=kept,
                                             quantity=quantity, send_at=send_at))
            kept += 1
        dropped = sum(1 for lots in slice_lots if lots <= 0)
        if dropped:
            warnings.append(f"{dropped} of {len(slice_lots)} slices got no lots and are skipped")
        if len(children) > MAX_ORDERS_PER_PARENT:
            raise ScheduleError(
                "max_child_orders",
                f"{kept} slices need {len(children)} orders after freeze splits "
                f"(max order {max_order:,}), more than the {MAX_ORDERS_PER_PARENT} a parent "
                "may send; ask for fewer slices")
        planned = sum(child.quantity for child in children)
        if planned != request.quantity:  # an invariant, not an input error
            raise AssertionError(f"plan sums to {planned}, parent is {request.quantity}")
        return ExecutionPlan(algo=request.execution_algo, children=tuple(children),
                             start_at=start, end_at=end,
                             participation_rate=request.participation_rate,
                             dynamic_sizing=dynamic, expected_market_volume=expected_market_volume,
                             warnings=tuple(warnings), volume_curve=volume_curve)


# ---------------------------------------------------------------------- randomisation


def _jitter_sizes(slice_lots: npt.NDArray[np.int64], size_jitter: float,
                  rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Move whole lots between slices: each slice changes by at most
    ``floor(size_jitter * nominal)`` lots (so never to zero), and the total is unchanged."""
    bound = np.floor(size_jitter * slice_lots + 1e-9).astype(np.int64)
    if int(bound.sum()) == 0:
        return slice_lots
    delta = rng.integers(-bound, bound + 1)
    excess = int(delta.sum())
    # Give the excess back in a random slice order, within each slice's bound. Feasible:
    # the bounds are symmetric, so a zero-sum delta always exists.
    for k in rng.permutation(len(delta)):
        if excess == 0:
            break
        if excess > 0:
            step = min(excess, int(delta[k] + bound[k]))
            delta[k] -= step
            excess -= step
        else:
            step = min(-excess, int(bound[k] - delta[k]))
            delta[k] += step
            excess += step
    result: npt.NDArray[np.int64] = slice_lots + delta
    return result


def _jitter_times(nominal: npt.NDArray[np.float64], start: float, end: float,
                  time_jitter: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Jitter send times by up to ±time_jitter of the interval; the first slice keeps its time.

    The amplitude is also capped at half of (interval − MIN_SLICE_INTERVAL_S), so neighbours
    stay at least MIN_SLICE_INTERVAL_S apart and strictly in order.
    """
    n = len(nominal)
    interval = (end - start) / n
    amplitude = min(time_jitter * interval, max(0.0, (interval - MIN_SLICE_INTERVAL_S) / 2.0))
    offsets = rng.uniform(-amplitude, amplitude, size=n)
    offsets[0] = 0.0
    result: npt.NDArray[np.float64] = np.clip(nominal + offsets, start, end)
    return result


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, IST).isoformat(timespec="seconds")
