"""SlippageModel: the pre-trade estimate written with every child, in one calibratable place.

Per child, relative to the arrival mid and with positive meaning cost:

* ``expected_slippage`` (rupees per unit): the spread we expect to pay or earn: +half-spread
  when taking, 0 at the mid (neutral), -half-spread when joining (paid only if filled).
* ``impact_estimate`` (rupees per unit): the Almgren et al. (2005) power law on participation,
  scaled by the premium's volatility over the child's horizon:
  ``sigma_H * (eta * rho**beta + gamma * rho / 2)``, with ``sigma_H = daily_volatility *
  sqrt(H / session)``.
* ``expected_cost_bps``: both, plus fees, in basis points of the reference price.

The defaults (eta 0.142, beta 0.6, gamma 0.314) are the published equity fits; option premia
are far more volatile than stocks, hence a daily premium volatility of 50%. All of it lives in
:class:`SlippageParams` so TCA can refit it from telemetry without touching the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .events import QueuePriority
from .timeutil import SESSION_SECONDS


@dataclass(frozen=True)
class SlippageParams:
    eta: float = 0.142  # temporary impact coefficient
    beta: float = 0.6  # temporary impact exponent on participation
    gamma: float = 0.314  # permanent impact coefficient
    daily_volatility: float = 0.5  # premium volatility over one session, as a fraction
    nominal_horizon_s: float = 60.0  # horizon used for a child sent all at once
    fees_bps: float = 0.0  # explicit costs; STT on option sales is 10-15 bps of premium


@dataclass(frozen=True, slots=True)
class SlippageEstimate:
    expected_slippage: float
    impact_estimate: float
    expected_cost_bps: float


class SlippageModel:
    def __init__(self, params: SlippageParams | None = None) -> None:
        self.params = params or SlippageParams()

    def estimate(self, *, reference_price: float | None, bid: float | None, ask: float | None,
                 queue_priority: QueuePriority, participation: float,
                 horizon_s: float | None = None) -> SlippageEstimate:
        """Estimate one child's cost. Without a reference price only the spread is known."""
        p = self.params
        half_spread = (ask - bid) / 2.0 if bid is not None and ask is not None else 0.0
        spread_part = {
            QueuePriority.TAKE: half_spread,
            QueuePriority.NEUTRAL: 0.0,
            QueuePriority.JOIN: -half_spread,
        }[queue_priority]
        if reference_price is None or reference_price <= 0:
            return SlippageEstimate(spread_part, 0.0, 0.0)
        horizon = horizon_s if horizon_s and horizon_s > 0 else p.nominal_horizon_s
        sigma_h = p.daily_volatility * math.sqrt(horizon / SESSION_SECONDS) * reference_price
        rho = min(max(participation, 0.0), 1.0)
        impact = sigma_h * (p.eta * rho ** p.beta + 0.5 * p.gamma * rho)
        cost_bps = (spread_part + impact) / reference_price * 1e4 + p.fees_bps
        return SlippageEstimate(spread_part, impact, cost_bps)
