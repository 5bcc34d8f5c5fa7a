"""The slippage fit's regressions: the columns the impact is fitted on (from
:mod:`.slippage_observations`), non-negative least squares without intercept, the coefficients
not told apart from 0 dropped (standard errors clustered by parent, the CR1 sandwich), the
market-removed fit (:func:`moving_fit`), and realized against predicted cost
(:func:`agreement`, :func:`slope_interval`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..costs.slippage import PriorFill, SlippageParams
from ..timeutil import SESSION_SECONDS
from .slippage_checks import MAX_RELATIVE_SE
from .slippage_observations import ChildObservation, MidMove

FloatArray = npt.NDArray[np.float64]


def cost_features(observations: Sequence[ChildObservation], params: SlippageParams,
              half_life_s: float) -> FloatArray:
    """Columns: the desk's earlier units on the contract (permanent), the temporary part they
    left (per unit; a fill before the parent's arrival only by its decay since), and
    sigma_H * rho**beta (rupees): the terms of
    :meth:`~..costs.slippage.SlippageModel.linear_impact` and the power law."""
    x = np.empty((len(observations), 3))
    x[:, :2] = impact_features([o.prior_fills for o in observations], half_life_s)
    for i, o in enumerate(observations):
        horizon = o.horizon_s if o.horizon_s and o.horizon_s > 0 else params.nominal_horizon_s
        sigma_h = params.daily_volatility * math.sqrt(horizon / SESSION_SECONDS) \
            * o.arrival_price
        rho = min(max(o.participation, 0.0), 1.0)
        x[i, 2] = sigma_h * rho ** params.beta
    return x


def impact_features(fills: Sequence[Sequence[PriorFill]], half_life_s: float) -> FloatArray:
    """Per set of fills, the linear impact's columns: units since the arrival (permanent) and
    the temporary part left at the moment their ages count from (per unit), fills before the
    arrival only by the decay since it."""
    decay = math.log(2.0) / half_life_s
    x = np.zeros((len(fills), 2))
    for i, one in enumerate(fills):
        for f in one:
            if f.arrival_age_s is None:
                x[i, 0] += f.units
                x[i, 1] += f.units * math.exp(-decay * f.age_s)
            else:
                x[i, 1] += f.units * (math.exp(-decay * f.age_s)
                                      - math.exp(-decay * f.arrival_age_s))
    return x


def beyond_the_quote(observations: Sequence[ChildObservation]) -> FloatArray:
    return np.array([o.realized - o.spread_part - o.book_walk for o in observations])


@dataclass(frozen=True)
class _Fit:
    coefficients: FloatArray  # per column, 0 where not fitted
    active: tuple[int, ...]  # the columns fitted (coefficient above 0)
    sse: float


def _least_squares(x: FloatArray, y: FloatArray,
                   allowed: Sequence[int] | None = None) -> _Fit:
    """No-intercept least squares on the ``allowed`` columns (all by default) with the
    coefficients kept non-negative: a column whose coefficient comes out negative is dropped
    and the rest refitted."""
    active = [j for j in (range(x.shape[1]) if allowed is None else allowed)
              if np.any(x[:, j] != 0.0)]
    coefficients = np.zeros(x.shape[1])
    while active:
        a = x[:, active]
        beta, *_ = np.linalg.lstsq(a, y, rcond=None)
        if np.all(beta >= 0.0):
            residual = y - a @ beta
            coefficients[active] = beta
            return _Fit(coefficients, tuple(active), float(residual @ residual))
        active.pop(int(np.argmin(beta)))
    return _Fit(coefficients, (), float(y @ y))


def _best_fit(columns: Sequence[FloatArray], y: FloatArray) -> tuple[_Fit, int]:
    """The fit of the half-life (one feature matrix each) with the least squared error, and
    that half-life's index."""
    best: tuple[_Fit, int] | None = None
    for k, x in enumerate(columns):
        fit = _least_squares(x, y)
        if best is None or fit.sse < best[0].sse - 1e-12:
            best = (fit, k)
    assert best is not None
    return best


@dataclass(frozen=True)
class Identified:
    fit: _Fit
    half_life: int  # index into the half-lives
    errors: FloatArray  # clustered standard error per column, NaN where not fitted
    #: column -> (value, standard error: None where it could not be estimated) when dropped
    dropped: dict[int, tuple[float, float | None]]


def identified_fit(columns: Sequence[FloatArray], y: FloatArray,
                    clusters: npt.NDArray[np.int64]) -> Identified:
    """The best half-life's non-negative fit, then, while a coefficient's standard error
    (clustered by parent) is above :data:`MAX_RELATIVE_SE` of its value, the worst such
    coefficient dropped (set to 0: not told apart from 0) and the rest refitted."""
    fit, k = _best_fit(columns, y)
    x = columns[k]
    dropped: dict[int, tuple[float, float | None]] = {}
    while True:
        errors = np.full(x.shape[1], np.nan)
        active = list(fit.active)
        if not active:
            return Identified(fit, k, errors, dropped)
        a = x[:, active]
        errors[active] = clustered_standard_errors(a, y - a @ fit.coefficients[active],
                                                   clusters)
        relative = {j: float(errors[j] / fit.coefficients[j])
                    if math.isfinite(errors[j]) else math.inf for j in active}
        worst = max(active, key=lambda j: relative[j])
        if relative[worst] <= MAX_RELATIVE_SE:
            return Identified(fit, k, errors, dropped)
        error = float(errors[worst])
        dropped[worst] = (float(fit.coefficients[worst]),
                          error if math.isfinite(error) else None)
        fit = _least_squares(x, y, [j for j in active if j != worst])


def mid_features(moves: Sequence[MidMove], half_life_s: float) -> FloatArray:
    """Columns of the mid moves: our units on the instrument since the arrival (permanent),
    and the temporary part those and the fills before the arrival moved the mid by between
    the arrival and the pricing (temporary, per unit)."""
    return impact_features([m.fills for m in moves], half_life_s)


def market_removed_costs(observations: Sequence[ChildObservation]) -> FloatArray:
    """Each child's cost beyond the quote with the market's own move taken out."""
    return np.array([o.realized - (o.market_move or 0.0) - o.spread_part - o.book_walk
                     for o in observations])


@dataclass(frozen=True)
class MovingFit:
    """The market-removed fit: permanent and temporary from the mid moves, the power law's
    ``eta`` from the children's costs beyond the quote and that impact."""

    coefficients: FloatArray  # permanent, temporary, eta
    errors: FloatArray  # clustered by parent, NaN where not fitted
    half_life: int
    dropped: dict[int, tuple[float, float | None]]


def moving_fit(mid_columns: Sequence[FloatArray], mid_y: FloatArray,
                mid_clusters: npt.NDArray[np.int64], cost_columns: Sequence[FloatArray],
                cost_y: FloatArray, cost_clusters: npt.NDArray[np.int64],
                takes: npt.NDArray[np.bool_]) -> MovingFit:
    """``takes``: the children that took liquidity (``eta`` is fitted on them alone: a
    resting child's fill comes when the market comes to it, a cost the quote's spread part
    does not describe; see :attr:`Calibration.resting`)."""
    impact = identified_fit(mid_columns, mid_y, mid_clusters)
    k = impact.half_life
    coefficients = np.zeros(3)
    errors = np.full(3, np.nan)
    coefficients[:2] = impact.fit.coefficients
    errors[:2] = impact.errors
    dropped = dict(impact.dropped)
    x = cost_columns[k][takes]
    rest = cost_y[takes] - x[:, :2] @ coefficients[:2]
    if len(rest) < 3:
        return MovingFit(coefficients, errors, k, dropped)
    eta = identified_fit([x[:, 2:]], rest, cost_clusters[takes])
    coefficients[2] = eta.fit.coefficients[0]
    errors[2] = eta.errors[0]
    if eta.dropped:
        dropped[2] = next(iter(eta.dropped.values()))
    return MovingFit(coefficients, errors, k, dropped)


def clustered_standard_errors(x: FloatArray, residual: FloatArray,
                              clusters: Sequence[str] | npt.NDArray[Any]) -> FloatArray:
    """Standard errors of least-squares coefficients on ``x`` with errors correlated within
    a cluster (a parent's children) and independent across clusters: the sandwich
    ``(X'X)^-1 (sum_g X_g'u_g u_g'X_g) (X'X)^-1`` with the small-sample factor
    ``G/(G-1) * (n-1)/(n-k)`` (CR1). NaN where it cannot be estimated (fewer than two
    clusters, or no more observations than columns)."""
    n, k = x.shape
    labels, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    g = len(labels)
    if k == 0 or g < 2 or n <= k:
        return np.full(k, np.nan)
    scores = np.zeros((g, k))
    np.add.at(scores, inverse, x * residual[:, None])
    bread = np.linalg.pinv(x.T @ x)
    covariance = g / (g - 1) * (n - 1) / (n - k) * (bread @ (scores.T @ scores) @ bread)
    errors: FloatArray = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    return errors


@dataclass(frozen=True)
class Agreement:
    """Realized cost regressed on predicted cost, per child, in bps of arrival."""

    n: int
    slope: float
    intercept: float
    r_squared: float
    mean_predicted_bps: float
    mean_realized_bps: float
    mean_error_bps: float  # realized - predicted

    def line(self) -> str:
        return (f"slope {self.slope:.3f}, intercept {self.intercept:+.2f} bps, "
                f"R² {self.r_squared:.3f}, mean predicted {self.mean_predicted_bps:+.2f} bps, "
                f"realized {self.mean_realized_bps:+.2f} bps, "
                f"error {self.mean_error_bps:+.2f} bps (n={self.n})")


def agreement(predicted_bps: Sequence[float] | FloatArray,
              realized_bps: Sequence[float] | FloatArray) -> Agreement:
    """Ordinary least squares of realized on predicted (with an intercept)."""
    p = np.asarray(predicted_bps, dtype=np.float64)
    r = np.asarray(realized_bps, dtype=np.float64)
    if p.size < 2 or float(np.var(p)) == 0.0:
        raise ValueError("need at least two observations with different predictions")
    slope, intercept = np.polyfit(p, r, 1)
    fitted = intercept + slope * p
    total = float(np.sum((r - r.mean()) ** 2))
    r2 = 1.0 - float(np.sum((r - fitted) ** 2)) / total if total > 0 else 1.0
    return Agreement(n=int(p.size), slope=float(slope), intercept=float(intercept),
                     r_squared=r2, mean_predicted_bps=float(p.mean()),
                     mean_realized_bps=float(r.mean()), mean_error_bps=float((r - p).mean()))


def slope_interval(predicted: FloatArray, realized: FloatArray,
                   clusters: npt.NDArray[Any]) -> tuple[float, float, float]:
    """Realized regressed on predicted with an intercept: the slope and its 95 % confidence
    interval, the standard error clustered by ``clusters`` (parents)."""
    x = np.column_stack([np.ones_like(predicted), predicted])
    beta, *_ = np.linalg.lstsq(x, realized, rcond=None)
    error = float(clustered_standard_errors(x, realized - x @ beta, clusters)[1])
    slope = float(beta[1])
    return slope, slope - 1.96 * error, slope + 1.96 * error
