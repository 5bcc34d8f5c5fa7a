"""Almgren–Chriss optimal execution: the discrete schedule and its closed-form cost and risk.

Almgren & Chriss, "Optimal execution of portfolio transactions", J. Risk 3(2), 2000 (the
formulas below are its section 1; the tests check them against a worked example). Model (selling
``X``; buys are symmetric): horizon ``T`` in ``N`` intervals of ``tau = T/N``, arithmetic random
walk with volatility ``sigma``, permanent impact ``gamma * v``, temporary impact
``epsilon * sgn(n) + eta * v``. For a deterministic schedule of child trades ``n_k``:

    E = ½γX² + ε Σ|n_k| + (η̃/τ) Σ n_k²,   η̃ = η − ½γτ
    V = σ² τ Σ_{k=1..N} x_k²,             x_k = X − Σ_{j≤k} n_j

and the mean-variance optimum ``min E + λV`` is a sinh/cosh trajectory with urgency ``kappa``.
The planner's IS algorithm uses :func:`optimal_trades`; benchmarks use the rest to score any
schedule against the optimum. Pure numpy/math, no units assumed: keep ``T``, ``sigma`` and
``lam`` in one consistent time unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: At or below this kappa*T the trajectory is TWAP to double precision (corrections are
#: O((kappa*T)^2)); the expm1-based forms below are accurate for anything larger.
_SMALL_KT = 1e-12
#: Below this kappa*T the closed-form E*/V* cancel badly; costs come from the summation form.
_CLOSED_FORM_MIN_KT = 1e-3
#: Above this kappa*T sinh overflows a double; costs are taken from the (stable) summation form.
_LARGE_KT = 300.0


def eta_tilde(eta: float, gamma: float, tau: float) -> float:
    """Temporary impact corrected for the discrete-time permanent-impact term: η − ½γτ."""
    return eta - 0.5 * gamma * tau


def kappa(T: float, N: int, sigma: float, eta: float, gamma: float, lam: float) -> float:
    """Urgency of the optimal schedule: ``arccosh(1 + λσ²τ²/(2η̃)) / τ`` (0 for λ = 0).

    This is the discrete solution of ``(2/τ²)(cosh κτ − 1) = λσ²/η̃``; as τ → 0 it tends to
    ``sqrt(λσ²/η)``. Written with ``log1p`` so a tiny λ keeps full precision.
    """
    _check_horizon(T, N)
    if lam < 0:
        raise ValueError(f"lam: {lam} must be non-negative")
    tau = T / N
    et = eta_tilde(eta, gamma, tau)
    if et <= 0:
        raise ValueError(f"eta: η − γτ/2 = {et:g} must be positive (τ too long for this γ)")
    a = lam * sigma * sigma * tau * tau / (2.0 * et)
    return math.log1p(a + math.sqrt(a * (a + 2.0))) / tau


def optimal_holdings(X: float, T: float, N: int, kappa_: float) -> FloatArray:
    """Holdings ``x_j = X sinh(κ(T − t_j)) / sinh(κT)`` for j = 0..N (x_0 = X, x_N = 0)."""
    _check_horizon(T, N)
    j = np.arange(N + 1, dtype=np.float64)
    b = kappa_ * T
    if b <= _SMALL_KT:
        x = X * (1.0 - j / N)
    else:
        a = b * (1.0 - j / N)  # κ(T − t_j)
        # sinh(a)/sinh(b) = e^{a−b} (1 − e^{−2a}) / (1 − e^{−2b}): no overflow for large κT.
        x = X * np.exp(a - b) * np.expm1(-2.0 * a) / math.expm1(-2.0 * b)
    x[0], x[-1] = X, 0.0
    return x


def optimal_trades(X: float, T: float, N: int, kappa_: float) -> FloatArray:
    """Child trades ``n_j = X · 2 sinh(κτ/2) cosh(κ(T − t_{j−½})) / sinh(κT)``, j = 1..N.

    Front-loaded for κ > 0, equal (TWAP) for κ = 0; sums to ``X``.
    """
    _check_horizon(T, N)
    b = kappa_ * T
    if b <= _SMALL_KT:
        return np.full(N, X / N, dtype=np.float64)
    j = np.arange(1, N + 1, dtype=np.float64)
    c = 0.5 * b / N  # κτ/2
    a = b * (1.0 - (j - 0.5) / N)  # κ(T − t_{j−½}); c + a <= b
    # 2 sinh(c) cosh(a) / sinh(b) = e^{c+a−b} (1 − e^{−2c})(1 + e^{−2a}) / (1 − e^{−2b})
    n = X * np.exp(c + a - b) * math.expm1(-2.0 * c) * (1.0 + np.exp(-2.0 * a)) / math.expm1(
        -2.0 * b)
    result: FloatArray = n.astype(np.float64)
    return result


def schedule_cost(n: Sequence[float] | FloatArray, X: float, T: float, sigma: float,
                  eta: float, gamma: float, epsilon: float) -> tuple[float, float]:
    """Expected cost ``E`` and variance ``V`` of any deterministic schedule, by the sums.

    ``n`` are the child trades of the ``N = len(n)`` intervals; they must sum to ``X``.
    """
    trades = np.asarray(n, dtype=np.float64).reshape(-1)
    N = int(trades.size)
    _check_horizon(T, N)
    if not math.isclose(float(trades.sum()), X, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"n: trades sum to {float(trades.sum()):g}, not X = {X:g}")
    tau = T / N
    holdings = X - np.cumsum(trades)  # x_1..x_N
    e = (0.5 * gamma * X * X + epsilon * float(np.abs(trades).sum())
         + eta_tilde(eta, gamma, tau) / tau * float(np.dot(trades, trades)))
    v = sigma * sigma * tau * float(np.dot(holdings, holdings))
    return e, v


def optimal_cost(X: float, T: float, N: int, sigma: float, eta: float, gamma: float,
                 epsilon: float, kappa_: float) -> tuple[float, float]:
    """Closed-form ``(E*, V*)`` of the optimal trajectory with urgency ``kappa_``.

    E* = ½γX² + εX + η̃X² tanh(½κτ) [τ sinh 2κT + 2T sinh κτ] / [2τ² sinh² κT]
    V* = ½σ²X² [τ sinh κT cosh κ(T−τ) − T sinh κτ] / [sinh² κT sinh κτ]

    Outside the range where these are numerically sound (κT tiny or huge) the summation form
    of the same trajectory is returned; the two agree where both are computable.
    """
    _check_horizon(T, N)
    b = kappa_ * T
    if b < _CLOSED_FORM_MIN_KT or b > _LARGE_KT:
        return schedule_cost(optimal_trades(X, T, N, kappa_), X, T, sigma, eta, gamma, epsilon)
    tau = T / N
    kt = kappa_ * tau
    et = eta_tilde(eta, gamma, tau)
    sinh_b = math.sinh(b)
    e = (0.5 * gamma * X * X + epsilon * X
         + et * X * X * math.tanh(0.5 * kt) * (tau * math.sinh(2.0 * b) + 2.0 * T * math.sinh(kt))
         / (2.0 * tau * tau * sinh_b * sinh_b))
    v = (0.5 * sigma * sigma * X * X
         * (tau * sinh_b * math.cosh(kappa_ * (T - tau)) - T * math.sinh(kt))
         / (sinh_b * sinh_b * math.sinh(kt)))
    return e, v


def twap_cost(X: float, T: float, N: int, sigma: float, eta: float, gamma: float,
              epsilon: float) -> tuple[float, float]:
    """TWAP (the λ → 0 optimum): E = ½γX²(1 − 1/N) + εX + ηX²/T, V = ⅓σ²X²T(1 − 1/N)(1 − 1/2N)."""
    _check_horizon(T, N)
    e = 0.5 * gamma * X * X * (1.0 - 1.0 / N) + epsilon * X + eta * X * X / T
    v = sigma * sigma * X * X * T * (1.0 - 1.0 / N) * (1.0 - 0.5 / N) / 3.0
    return e, v


def immediate_cost(X: float, T: float, N: int, eta: float, epsilon: float) -> tuple[float, float]:
    """Everything in the first interval (the λ → ∞ limit): E = εX + ηX²/τ, V = 0."""
    _check_horizon(T, N)
    return epsilon * X + eta * X * X / (T / N), 0.0


@dataclass(frozen=True, slots=True)
class FrontierPoint:
    """The optimum for one risk aversion λ: urgency, trajectory, cost, risk and utility."""

    lam: float
    kappa: float
    holdings: FloatArray
    trades: FloatArray
    expected_cost: float
    variance: float

    @property
    def utility(self) -> float:
        """E + λV, the quantity the optimum minimises."""
        return self.expected_cost + self.lam * self.variance


def frontier(X: float, T: float, N: int, sigma: float, eta: float, gamma: float,
             epsilon: float, lams: Iterable[float]) -> list[FrontierPoint]:
    """The efficient frontier: one :class:`FrontierPoint` per risk aversion in ``lams``."""
    points = []
    for lam in lams:
        k = kappa(T, N, sigma, eta, gamma, lam)
        e, v = optimal_cost(X, T, N, sigma, eta, gamma, epsilon, k)
        points.append(FrontierPoint(lam=lam, kappa=k, holdings=optimal_holdings(X, T, N, k),
                                    trades=optimal_trades(X, T, N, k), expected_cost=e,
                                    variance=v))
    return points


def _check_horizon(T: float, N: int) -> None:
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T: {T} must be positive")
    if N < 1:
        raise ValueError(f"N: {N} must be at least 1")
