"""SlippageModel: the pre-trade estimate written with every child, in one calibratable place.

Per child, relative to the arrival mid and with positive meaning cost:

* ``expected_slippage`` (rupees per unit): the spread we expect to pay or earn: +half-spread
  when taking, 0 at the mid (neutral), -half-spread when joining (paid only if filled).
* ``impact_estimate`` (rupees per unit): what moving the market costs on top of that, the sum of

  - *walking the book*: a taking child larger than the touch fills deeper in the book. When the
    quote shows depth (the paper exchange's does), the cost of the levels beyond the touch for
    the child's quantity; beyond the last level shown, the book is assumed to go on as that
    level does (same size, same price step);
  - *the power law on participation* (Almgren et al. 2005), scaled by the premium's volatility
    over the child's horizon: ``sigma_H * (eta * rho**beta + gamma * rho / 2)``, with
    ``sigma_H = daily_volatility * sqrt(H / session)``;
  - *linear impact of the desk's earlier fills on the instrument* (Almgren-Chriss, in rupees
    per unit): every unit the parent already traded moved the price by ``permanent_per_unit``
    for good and by ``temporary_per_unit`` more, which decays with ``temporary_half_life_s``.
    The child pays what is left of that against the arrival price. Other parents' fills count
    too, signed by their side against this one's: since the arrival as the parent's own; before
    it, only by their temporary part's decay since the arrival (the rest was in the arrival
    price). (A child's own fill never pays its own linear impact: that is the next child's
    cost.)

* ``expected_cost_bps``: all of it, plus fees, in basis points of the reference price.

The defaults (eta 0.142, beta 0.6, gamma 0.314, no linear terms) are the published equity fits
and are what the live path uses; option premia are far more volatile than stocks, hence a daily
premium volatility of 50%. They are uncalibrated for NSE options (calibration from real fills is
to come). The paper exchange knows its own true costs:
:func:`imperium_exec.sim.costs.paper_slippage_params` turns them into these parameters, which
the paper broker declares (``capabilities.slippage_params``) and the engine then uses.
All of it lives in :class:`SlippageParams` so TCA can refit it from telemetry without touching
the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..events import QueuePriority
from ..timeutil import SESSION_SECONDS


@dataclass(frozen=True)
class SlippageParams:
    eta: float = 0.142  # temporary impact coefficient (power law, volatility units)
    beta: float = 0.6  # temporary impact exponent on participation
    gamma: float = 0.314  # permanent impact coefficient (power law, volatility units)
    daily_volatility: float = 0.5  # premium volatility over one session, as a fraction
    nominal_horizon_s: float = 60.0  # horizon used for a child sent all at once
    fees_bps: float = 0.0  # explicit costs; STT on option sales is 10-15 bps of premium
    #: Almgren-Chriss linear impact, rupees per unit traded: the price moves this much for
    #: good per unit the parent traded (0: not modelled)...
    permanent_per_unit: float = 0.0
    #: ...and this much more for a while (0: not modelled), decaying with this half-life.
    temporary_per_unit: float = 0.0
    temporary_half_life_s: float = 30.0


@dataclass(frozen=True, slots=True)
class SlippageEstimate:
    expected_slippage: float
    impact_estimate: float
    expected_cost_bps: float
    book_walk: float = 0.0  # the part of impact_estimate that is walking the book


@dataclass(frozen=True, slots=True)
class PriorFill:
    """Units the desk already traded on the instrument, signed by the parent's side (+ the
    same side, - the other), and how long ago (for the linear impact terms).

    ``arrival_age_s`` is set for a fill before the parent's arrival (another parent's): how
    long before it. Its permanent part is in the arrival price already, and its temporary part
    was too: what moves the price against the arrival is only that part's decay since.
    """

    age_s: float
    units: int
    arrival_age_s: float | None = None


class SlippageModel:
    def __init__(self, params: SlippageParams | None = None, *, fit: str | None = None) -> None:
        self.params = params or SlippageParams()
        #: Which fit these parameters are, as a parent's accepted row names it
        #: (``slippage_fit``): a calibration file's name and hash, ``broker`` (the broker's
        #: own costs), ``defaults``, or ``custom`` (other parameters given in code).
        self.fit = fit or ("defaults" if self.params == SlippageParams() else "custom")

    def estimate(self, *, reference_price: float | None, bid: float | None, ask: float | None,
                 queue_priority: QueuePriority, participation: float,
                 horizon_s: float | None = None, quantity: int | None = None,
                 depth: Sequence[tuple[float, int]] = (), taken_ahead: int = 0,
                 prior_fills: Sequence[PriorFill] = ()) -> SlippageEstimate:
        """Estimate one child's cost. Without a reference price only the spread is known.

        ``quantity`` and ``depth`` (the levels a taking child would fill against, best first,
        as (price, units)) give the cost of walking the book, after ``taken_ahead`` units that
        orders sent just before this one take from it first; ``prior_fills`` are the parent's
        fills so far (and those about to happen), for the linear impact terms.
        """
        p = self.params
        half_spread = (ask - bid) / 2.0 if bid is not None and ask is not None else 0.0
        spread_part = {
            QueuePriority.TAKE: half_spread,
            QueuePriority.NEUTRAL: 0.0,
            QueuePriority.JOIN: -half_spread,
        }[queue_priority]
        if reference_price is None or reference_price <= 0:
            return SlippageEstimate(spread_part, 0.0, 0.0)
        walk = 0.0
        if queue_priority is QueuePriority.TAKE and quantity and depth:
            walk = book_walk_cost(depth, quantity, taken_ahead=taken_ahead)
        horizon = horizon_s if horizon_s and horizon_s > 0 else p.nominal_horizon_s
        sigma_h = p.daily_volatility * math.sqrt(horizon / SESSION_SECONDS) * reference_price
        rho = min(max(participation, 0.0), 1.0)
        power_law = sigma_h * (p.eta * rho ** p.beta + 0.5 * p.gamma * rho)
        linear = self.linear_impact(prior_fills)
        impact = walk + power_law + linear
        cost_bps = (spread_part + impact) / reference_price * 1e4 + p.fees_bps
        return SlippageEstimate(spread_part, impact, cost_bps, walk)

    @property
    def models_linear_impact(self) -> bool:
        """Whether earlier fills move the estimate at all (the linear terms are set)."""
        return bool(self.params.permanent_per_unit or self.params.temporary_per_unit)

    def linear_impact(self, prior_fills: Sequence[PriorFill]) -> float:
        """What the desk's earlier fills on the instrument moved the price by against the
        parent's arrival, rupees per unit: the parent's own (and others' since its arrival)
        for good and for a while; others' before its arrival, by how much their temporary
        part decayed since (see :class:`PriorFill`)."""
        p = self.params
        if not prior_fills or not self.models_linear_impact:
            return 0.0
        decay = math.log(2.0) / p.temporary_half_life_s
        permanent = p.permanent_per_unit * sum(
            f.units for f in prior_fills if f.arrival_age_s is None)
        temporary = 0.0
        for f in prior_fills:
            left = math.exp(-decay * max(0.0, f.age_s))
            if f.arrival_age_s is not None:
                left -= math.exp(-decay * max(0.0, f.arrival_age_s))
            temporary += f.units * left
        return permanent + p.temporary_per_unit * temporary


def book_walk_cost(depth: Sequence[tuple[float, int]], quantity: int, *,
                   taken_ahead: int = 0) -> float:
    """Average price paid beyond the touch, per unit, for taking ``quantity`` from ``depth``
    (the levels a taking order fills against, best first, as (price, units)) after
    ``taken_ahead`` units went first; positive.

    Beyond the last level shown, the book is assumed to go on like it: the same size per level
    and the same price step (with one level shown, the rest is priced at the touch)."""
    levels = [(price, units) for price, units in depth if units > 0]
    if not levels or quantity <= 0:
        return 0.0
    touch = levels[0][0]
    step = levels[-1][0] - levels[-2][0] if len(levels) >= 2 else 0.0
    skip, left, cost = max(0, taken_ahead), quantity, 0.0

    def take(price: float, units: int) -> None:
        nonlocal skip, left, cost
        skipped = min(skip, units)
        skip -= skipped
        n = min(left, units - skipped)
        cost += n * abs(price - touch)
        left -= n

    for price, units in levels:
        take(price, units)
        if left == 0:
            return cost / quantity
    price, units = levels[-1]
    while left > 0:
        price += step
        take(price, units)
    return cost / quantity


__all__ = ["PriorFill", "SlippageEstimate", "SlippageModel", "SlippageParams", "book_walk_cost"]
