"""The market's own move in an option's price, from its underlying index: what calibration
takes out of a child's cost before fitting our impact.

A premium moves with its index (about half the index's move at the money, a weekly option's
tens of bps a second) while our impact is a few bps: a child's cost against its parent's arrival
mid is mostly the market. The journal has the index at each moment that matters
(``underlying_price``: on the accepted row, when the parent was accepted; on a child's rows, when
it was priced; on a fill row, when the fill was taken in), so the option's price is repriced at
each: Black-76 on the index forward, with the volatility implied by the arrival mid at the
arrival's index and time (no smile: the contract's own volatility, held over the parent's few
minutes). The difference of two such prices is the market's move between the two moments:
delta, gamma and time decay together, none of it ours.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from ..instruments import UnknownInstrumentError, contract_expiry, parse_contract
from ..timeutil import IST, SESSION_CLOSE

#: Interest rate of the index forward (the paper exchange's; over a parent's minutes the rate
#: moves a premium by far less than a tick).
RATE = 0.065
#: Calendar year in seconds (time to expiry is calendar time, as the desk quotes it).
YEAR_S = 365.0 * 86_400.0
#: The shortest time to expiry priced (half an hour: an expiring option's price is its
#: intrinsic value, and its volatility cannot be implied).
MIN_TO_EXPIRY_S = 1_800.0
_SQRT2 = math.sqrt(2.0)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def black76(underlying: float, strike: float, years: float, vol: float, is_call: bool,
            rate: float = RATE) -> float:
    """The discounted Black-76 premium of an option on the index's forward."""
    forward = underlying * math.exp(rate * years)
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    value = (forward * _cdf(d1) - strike * _cdf(d2) if is_call
             else strike * _cdf(-d2) - forward * _cdf(-d1))
    return max(math.exp(-rate * years) * value, 0.0)


def implied_vol(price: float, underlying: float, strike: float, years: float,
                is_call: bool) -> float | None:
    """The volatility at which :func:`black76` gives ``price`` (bisection on 0.1 %-500 %);
    None when no volatility does (a price at or below the option's intrinsic value)."""
    low, high = 1e-3, 5.0
    if not black76(underlying, strike, years, low, is_call) < price \
            < black76(underlying, strike, years, high, is_call):
        return None
    for _ in range(60):
        middle = 0.5 * (low + high)
        if black76(underlying, strike, years, middle, is_call) < price:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True, slots=True)
class OptionPricer:
    """One contract's premium as a function of its index and time, at one volatility."""

    strike: float
    is_call: bool
    expiry_epoch: float
    vol: float

    def value(self, underlying: float, epoch: float) -> float:
        years = max(self.expiry_epoch - epoch, MIN_TO_EXPIRY_S) / YEAR_S
        return black76(underlying, self.strike, years, self.vol, self.is_call)

    def move(self, underlying_from: float, epoch_from: float, underlying_to: float,
             epoch_to: float) -> float:
        """The premium's move between two moments, rupees (index and time both moving)."""
        return self.value(underlying_to, epoch_to) - self.value(underlying_from, epoch_from)


def option_pricer(tradingsymbol: str, price: float, underlying: float,
                  epoch: float) -> OptionPricer | None:
    """The pricer of ``tradingsymbol`` whose volatility gives ``price`` (a mid) with the index
    at ``underlying`` at ``epoch``; None for a symbol that is no option of a configured
    underlying, or a price no volatility gives."""
    try:
        contract = parse_contract(tradingsymbol)
    except UnknownInstrumentError:
        return None
    day = contract_expiry(contract)
    if contract.kind not in ("CE", "PE") or contract.strike is None or day is None \
            or price <= 0.0 or underlying <= 0.0:
        return None
    expiry = dt.datetime.combine(day, SESSION_CLOSE, IST).timestamp()
    years = max(expiry - epoch, MIN_TO_EXPIRY_S) / YEAR_S
    is_call = contract.kind == "CE"
    vol = implied_vol(price, underlying, contract.strike, years, is_call)
    if vol is None:
        return None
    return OptionPricer(contract.strike, is_call, expiry, vol)


__all__ = ["MIN_TO_EXPIRY_S", "RATE", "YEAR_S", "OptionPricer", "black76", "implied_vol",
           "option_pricer"]
