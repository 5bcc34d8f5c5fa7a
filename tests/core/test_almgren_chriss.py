"""Almgren–Chriss: the reference table of execution-quality.md §1 and the model's identities."""

from __future__ import annotations

import numpy as np
import pytest

from imperium_exec.costs import almgren_chriss as ac

# The paper's example (execution-quality.md §1): X shares over T = 5 days in N = 5 intervals.
X, T, N = 1e6, 5.0, 5
SIGMA, EPS, ETA, GAMMA = 0.95, 0.0625, 2.5e-6, 2.5e-7
PARAMS = {"sigma": SIGMA, "eta": ETA, "gamma": GAMMA, "epsilon": EPS}


def _kappa(lam: float, n: int = N) -> float:
    return ac.kappa(T, n, SIGMA, ETA, GAMMA, lam)


def test_reference_twap_row() -> None:
    e, v = ac.twap_cost(X, T, N, **PARAMS)
    assert e == pytest.approx(662_500, abs=1e-6)
    assert v == pytest.approx(1.083e12, rel=1e-12)
    assert ac.schedule_cost([X / N] * N, X, T, **PARAMS) == pytest.approx((e, v), rel=1e-12)


def test_reference_optimum_row() -> None:
    k = _kappa(1e-6)
    assert k == pytest.approx(0.607, abs=5e-4)
    e, v = ac.optimal_cost(X, T, N, SIGMA, ETA, GAMMA, EPS, k)
    assert e == pytest.approx(911_227, abs=1.0)
    assert v == pytest.approx(3.641e11, rel=1e-3)
    assert e + 1e-6 * v == pytest.approx(1_275_356, abs=2.0)


def test_reference_immediate_row_and_ratios() -> None:
    e_imm, v_imm = ac.immediate_cost(X, T, N, ETA, EPS)
    assert e_imm == pytest.approx(2_562_500) and v_imm == 0.0
    assert ac.schedule_cost([X, 0, 0, 0, 0], X, T, **PARAMS) == pytest.approx((e_imm, 0.0))
    e_twap, v_twap = ac.twap_cost(X, T, N, **PARAMS)
    assert e_twap + 1e-6 * v_twap == pytest.approx(1_745_500)
    (opt,) = ac.frontier(X, T, N, SIGMA, ETA, GAMMA, EPS, [1e-6])
    assert (e_twap + 1e-6 * v_twap) / opt.utility == pytest.approx(1.369, abs=1e-3)
    assert e_imm / e_twap == pytest.approx(3.87, abs=5e-3)


@pytest.mark.parametrize("lam", [1e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-4])
@pytest.mark.parametrize("n", [5, 25, 75])
def test_closed_form_equals_summed_form(lam: float, n: int) -> None:
    k = _kappa(lam, n)
    closed = ac.optimal_cost(X, T, n, SIGMA, ETA, GAMMA, EPS, k)
    summed = ac.schedule_cost(ac.optimal_trades(X, T, n, k), X, T, **PARAMS)
    assert closed == pytest.approx(summed, rel=1e-9)


def test_kappa_solves_the_discrete_equation_and_tends_to_continuous_limit() -> None:
    for lam in (1e-7, 1e-6, 1e-5):
        k = _kappa(lam)
        tau = T / N
        et = ac.eta_tilde(ETA, GAMMA, tau)
        assert 2 / tau**2 * (np.cosh(k * tau) - 1) == pytest.approx(lam * SIGMA**2 / et, rel=1e-12)
    fine = ac.kappa(T, 100_000, SIGMA, ETA, GAMMA, 1e-6)
    assert fine == pytest.approx(np.sqrt(1e-6 * SIGMA**2 / ETA), rel=1e-5)


def test_lambda_zero_is_twap() -> None:
    assert _kappa(0.0) == 0.0
    np.testing.assert_allclose(ac.optimal_trades(X, T, N, 0.0), [X / N] * N)
    np.testing.assert_allclose(ac.optimal_holdings(X, T, N, 0.0), X * (1 - np.arange(6) / 5))
    assert ac.optimal_cost(X, T, N, SIGMA, ETA, GAMMA, EPS, 0.0) == pytest.approx(
        ac.twap_cost(X, T, N, **PARAMS), rel=1e-12)
    # and the limit is continuous: a tiny risk aversion is TWAP to many digits
    k = _kappa(1e-14)
    np.testing.assert_allclose(ac.optimal_trades(X, T, N, k), [X / N] * N, rtol=1e-6)
    assert ac.optimal_cost(X, T, N, SIGMA, ETA, GAMMA, EPS, k)[0] == pytest.approx(
        662_500, rel=1e-6)


def test_trajectory_shape() -> None:
    k = _kappa(1e-6)
    x = ac.optimal_holdings(X, T, N, k)
    n = ac.optimal_trades(X, T, N, k)
    assert x[0] == X and x[-1] == 0.0
    np.testing.assert_allclose(-np.diff(x), n, rtol=1e-12)
    assert n.sum() == pytest.approx(X, rel=1e-12)
    assert np.all(np.diff(n) < 0)  # front-loaded
    # the formula x_j = X sinh(κ(T − t_j)) / sinh(κT) directly
    t = np.arange(N + 1) * T / N
    np.testing.assert_allclose(x, X * np.sinh(k * (T - t)) / np.sinh(k * T), rtol=1e-12)


def test_optimum_beats_every_perturbation() -> None:
    """A numerical check of optimality: zero-sum perturbations never lower E + λV."""
    lam = 1e-6
    k = _kappa(lam)
    best = ac.optimal_trades(X, T, N, k)
    e, v = ac.schedule_cost(best, X, T, **PARAMS)
    rng = np.random.default_rng(0)
    for _ in range(200):
        bump = rng.normal(size=N) * 5e3
        bump -= bump.mean()
        e2, v2 = ac.schedule_cost(best + bump, X, T, **PARAMS)
        assert e2 + lam * v2 >= e + lam * v - 1e-6


def test_extreme_urgency_is_finite_and_immediate() -> None:
    n = ac.optimal_trades(1.0, 1.0, 10, 2000.0)  # sinh(2000) overflows a double
    assert np.all(np.isfinite(n))
    assert n.sum() == pytest.approx(1.0)
    assert n[0] == pytest.approx(1.0, abs=1e-12)
    e, v = ac.optimal_cost(X, T, N, SIGMA, ETA, GAMMA, EPS, 2000.0)
    e_imm, _ = ac.immediate_cost(X, T, N, ETA, EPS)
    # all in the first interval: the summed form (with η̃) of the immediate schedule
    assert (e, v) == pytest.approx(ac.schedule_cost([X, 0, 0, 0, 0], X, T, **PARAMS))
    assert e == pytest.approx(e_imm)


def test_frontier_is_monotone() -> None:
    points = ac.frontier(X, T, N, SIGMA, ETA, GAMMA, EPS, [0.0, 1e-7, 3e-7, 1e-6, 3e-6])
    costs = [p.expected_cost for p in points]
    risks = [p.variance for p in points]
    assert costs == sorted(costs) and risks == sorted(risks, reverse=True)
    assert points[0].kappa == 0.0 and points[0].utility == pytest.approx(662_500)
    for p in points:
        assert p.utility == pytest.approx(p.expected_cost + p.lam * p.variance)
        assert p.holdings.shape == (N + 1,) and p.trades.shape == (N,)


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="eta"):
        ac.kappa(T, 1, SIGMA, 1e-7, 1.0, 1e-6)  # η − γτ/2 < 0
    with pytest.raises(ValueError, match="lam"):
        _kappa(-1.0)
    with pytest.raises(ValueError, match="N"):
        ac.optimal_trades(X, T, 0, 0.1)
    with pytest.raises(ValueError, match="T"):
        ac.twap_cost(X, 0.0, N, **PARAMS)
    with pytest.raises(ValueError, match="n: trades sum"):
        ac.schedule_cost([1.0, 2.0], X, T, **PARAMS)
