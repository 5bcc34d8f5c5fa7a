"""Black-76 option prices on an index forward, for one contract or a whole path at once.

The paper market prices every option from the simulated index with a flat implied volatility
(no smile): fair enough to give realistic premiums, deltas and time decay, simple enough that a
benchmark can recompute the true fair price.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Seconds in a year for time to expiry (calendar time, as the desk quotes it).
YEAR_S = 365.0 * 86_400.0
_SQRT2 = math.sqrt(2.0)


def _norm_cdf(x: FloatArray) -> FloatArray:
    erf = np.fromiter(map(math.erf, (x / _SQRT2).tolist()), dtype=np.float64, count=x.size)
    return np.asarray(0.5 * (1.0 + erf.reshape(x.shape)), dtype=np.float64)


def black76(forward: FloatArray, strike: float, years: FloatArray, vol: float, rate: float,
            is_call: bool) -> FloatArray:
    """Discounted Black-76 premium for each (forward, time-to-expiry) pair."""
    f = np.asarray(forward, dtype=np.float64)
    t = np.maximum(np.asarray(years, dtype=np.float64), 1e-12)
    sd = vol * np.sqrt(t)
    d1 = (np.log(f / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    discount = np.exp(-rate * t)
    if is_call:
        value = f * _norm_cdf(d1) - strike * _norm_cdf(d2)
    else:
        value = strike * _norm_cdf(-d2) - f * _norm_cdf(-d1)
    return np.asarray(np.maximum(discount * value, 0.0), dtype=np.float64)


def black76_price(forward: float, strike: float, years: float, vol: float, rate: float,
                  is_call: bool) -> float:
    """Scalar Black-76 premium (same formula as :func:`black76`)."""
    out = black76(np.array([forward]), strike, np.array([years]), vol, rate, is_call)
    return float(out[0])


def moneyness_sd(forward: FloatArray, strike: float, years: FloatArray,
                 vol: float) -> FloatArray:
    """|ln(K/F)| in standard deviations of the forward to expiry: 0 at the money."""
    sd = vol * np.sqrt(np.maximum(np.asarray(years, dtype=np.float64), 1e-12))
    return np.asarray(np.abs(np.log(strike / np.asarray(forward, dtype=np.float64))) / sd,
                      dtype=np.float64)
