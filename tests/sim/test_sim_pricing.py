"""Black-76: known values, put-call parity, and the vector form agreeing with the scalar one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imperium_exec.sim.pricing import black76, black76_price, moneyness_sd


def test_at_the_money_known_value() -> None:
    # With r = 0, an ATM call is F * (2 N(sigma sqrt(T) / 2) - 1): 7.965567 for F=100, 20%, 1y.
    assert black76_price(100.0, 100.0, 1.0, 0.2, 0.0, True) == pytest.approx(7.965567, abs=1e-6)


@pytest.mark.parametrize("strike", [80.0, 100.0, 125.0])
def test_put_call_parity(strike: float) -> None:
    forward, years, vol, rate = 100.0, 0.25, 0.3, 0.065
    call = black76_price(forward, strike, years, vol, rate, True)
    put = black76_price(forward, strike, years, vol, rate, False)
    assert call - put == pytest.approx(math.exp(-rate * years) * (forward - strike), abs=1e-9)


def test_vector_matches_scalar_and_is_never_negative() -> None:
    forwards = np.array([25_000.0, 26_000.0, 27_000.0])
    years = np.array([0.001, 0.02, 0.1])
    values = black76(forwards, 26_000.0, years, 0.13, 0.065, False)
    for f, t, v in zip(forwards, years, values, strict=True):
        assert v == pytest.approx(black76_price(float(f), 26_000.0, float(t), 0.13, 0.065, False))
    assert (values >= 0).all()
    far = moneyness_sd(np.array([26_000.0]), 27_000.0, np.array([0.02]), 0.13)
    assert far[0] == pytest.approx(math.log(27_000 / 26_000) / (0.13 * math.sqrt(0.02)))
