"""The held-out check's computation (:class:`~.slippage_checks.HeldOut`): each fold's children
(a day's, or a seeded fold of parents') predicted by a fit made without them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..timeutil import IST
from .slippage_checks import HELD_OUT_FOLDS, HELD_OUT_SEED, HeldOut
from .slippage_observations import ChildObservation, MidMove
from .slippage_regression import FloatArray, identified_fit, moving_fit, slope_interval


def _folds(observations: Sequence[ChildObservation]) -> tuple[dict[str, int], int, str]:
    """Each parent's fold: its IST day when the children span two days or more, else one of
    :data:`HELD_OUT_FOLDS` seeded folds of parents."""
    day_of: dict[str, str] = {}
    for o in sorted(observations, key=lambda o: o.ts):
        if o.ts > 0:
            day_of.setdefault(o.parent_id, dt.datetime.fromtimestamp(o.ts, IST).date()
                              .isoformat())
    parents = sorted({o.parent_id for o in observations})
    days = sorted(set(day_of.values()))
    if len(days) >= 2 and len(day_of) == len(parents):
        index = {day: i for i, day in enumerate(days)}
        return {p: index[day_of[p]] for p in parents}, len(days), "days"
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(parents))
    return ({parents[int(i)]: position % HELD_OUT_FOLDS for position, i in enumerate(order)},
            HELD_OUT_FOLDS, "parents")



def held_out_moving(observations: Sequence[ChildObservation], moves: Sequence[MidMove],
                     mid_columns: Sequence[FloatArray], mid_y: FloatArray,
                     cost_columns: Sequence[FloatArray], cost_y: FloatArray) -> HeldOut | None:
    """The held-out check of the market-removed fit (see :class:`HeldOut`): each fold's
    children predicted by a fit of the other folds' mid moves and costs."""
    fold_of, folds, by = _folds(observations)
    if folds < 2 or len(fold_of) < HELD_OUT_FOLDS:
        return None
    fold = np.array([fold_of[o.parent_id] for o in observations])
    takes = np.array([o.spread_part > 0 for o in observations])
    mid_fold = np.array([fold_of.get(m.parent_id, -1) for m in moves])
    cost_clusters = np.unique([o.parent_id for o in observations], return_inverse=True)[1]
    mid_clusters = np.unique([m.parent_id for m in moves], return_inverse=True)[1]
    predicted = np.zeros(len(observations))
    for f in range(folds):
        test, train, mid_train = fold == f, fold != f, mid_fold != f
        if not test.any():
            continue
        fitted = moving_fit([x[mid_train] for x in mid_columns], mid_y[mid_train],
                             mid_clusters[mid_train], [x[train] for x in cost_columns],
                             cost_y[train], cost_clusters[train], takes[train])
        predicted[test] = cost_columns[fitted.half_life][test] @ fitted.coefficients
    # Judged on the children that took liquidity: a resting child's realized cost beyond the
    # quote holds what the market did to it while it rested (Calibration.resting), which the
    # model does not describe.
    arrival = np.array([o.arrival_price for o in observations])[takes]
    p, r = predicted[takes] / arrival * 1e4, cost_y[takes] / arrival * 1e4
    total = float(r @ r)
    gain = 1.0 - float((r - p) @ (r - p)) / total if total > 0 else 0.0
    slope = correlation = low = high = None
    if float(np.var(p)) > 0.0 and float(np.var(r)) > 0.0:
        slope, low, high = slope_interval(p, r, cost_clusters[takes])
        correlation = float(np.corrcoef(p, r)[0, 1])
    return HeldOut(folds=folds, parents=len(fold_of), children=int(takes.sum()),
                   slope=slope, correlation=correlation, gain=gain,
                   mean_predicted_bps=float(p.mean()), mean_realized_bps=float(r.mean()),
                   by=by, slope_low=low, slope_high=high, market_removed=True)


def held_out_check(observations: Sequence[ChildObservation], columns: Sequence[FloatArray],
              y: FloatArray, clusters: npt.NDArray[np.int64]) -> HeldOut | None:
    """The held-out check (see :class:`HeldOut`); None with fewer parents than folds."""
    parents = sorted({o.parent_id for o in observations})
    if len(parents) < HELD_OUT_FOLDS:
        return None
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(parents))
    fold_of = {parents[int(i)]: position % HELD_OUT_FOLDS for position, i in enumerate(order)}
    fold = np.array([fold_of[o.parent_id] for o in observations])
    predicted = np.zeros(len(observations))
    for f in range(HELD_OUT_FOLDS):
        test, train = fold == f, fold != f
        fold_fit = identified_fit([x[train] for x in columns], y[train], clusters[train])
        predicted[test] = columns[fold_fit.half_life][test] @ fold_fit.fit.coefficients
    arrival = np.array([o.arrival_price for o in observations])
    p, r = predicted / arrival * 1e4, y / arrival * 1e4
    total = float(r @ r)
    gain = 1.0 - float((r - p) @ (r - p)) / total if total > 0 else 0.0
    slope = correlation = None
    if float(np.var(p)) > 0.0 and float(np.var(r)) > 0.0:
        slope = float(np.polyfit(p, r, 1)[0])
        correlation = float(np.corrcoef(p, r)[0, 1])
    return HeldOut(folds=HELD_OUT_FOLDS, parents=len(parents), children=len(observations),
                   slope=slope, correlation=correlation, gain=gain,
                   mean_predicted_bps=float(p.mean()), mean_realized_bps=float(r.mean()))
