"""Implementation shortfall of one parent, split into its parts (Perold 1988, with Kissell's
expanded decomposition; the reference's section 3). Pure arithmetic, in rupees, positive =
cost, for buys and sells alike (``s`` = +1 for a buy, -1 for a sell):

- **delay** = s * Q * (P_0 - P_d): the market's move between the decision (P_d, the ticket's
  mid) and the parent's arrival (P_0, its first mid), on the quantity that filled;
- **spread** = s * sum q_j (p_j - m_j): each fill that took liquidity against the mid its child
  was priced from (m_j): the spread paid and the book walked. A fill that *rested* (its price
  short of the far touch when it was sent: :mod:`imperium_exec.events.liquidity`) crossed no
  spread: the market came to its price, so its m_j is its own price (spread 0) and its whole
  move from arrival is drift (the journal has no mid at the moment of a resting fill);
- **drift** = s * sum q_j (m_j - P_0): how far those mids had moved from arrival (the market,
  and our own earlier fills' impact);
- **opportunity** = s * (X - Q) * (P_end - P_d): what the unfilled quantity missed, to the mid
  at the end (P_end);
- **fees**: the fills' charges.

They add up to s * (sum q_j p_j - Q P_d) + s (X - Q)(P_end - P_d) + fees exactly; in bps of
the ordered value at the decision price, X * P_d.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..request import Side


@dataclass(frozen=True, slots=True)
class Fill:
    units: int
    price: float
    mid_at_send: float | None  # None: the child had no quote (priced from arrival)
    resting: bool = False  # it rested (short of the touch when sent): no spread crossed


@dataclass(frozen=True, slots=True)
class Shortfall:
    decision_price: float
    arrival_price: float
    end_price: float | None
    delay: float
    spread: float
    drift: float
    opportunity: float
    fees: float
    ordered_value: float  # X * P_d

    @property
    def total(self) -> float:
        return self.delay + self.spread + self.drift + self.opportunity + self.fees

    @property
    def total_bps(self) -> float:
        return self.total / self.ordered_value * 1e4 if self.ordered_value > 0 else 0.0


def implementation_shortfall(*, side: Side, ordered: int, decision_price: float | None,
                             arrival_price: float | None, end_price: float | None,
                             fills: Sequence[Fill], fees: float = 0.0) -> Shortfall | None:
    """The parent's shortfall and its parts; None without an arrival price (no mid was ever
    seen: nothing to measure against). Without a decision price the decision is the arrival
    (no delay); without an end price the unfilled quantity's opportunity is 0."""
    if arrival_price is None or arrival_price <= 0:
        return None
    decision = decision_price if decision_price is not None and decision_price > 0 \
        else arrival_price
    s = side.sign
    filled = sum(f.units for f in fills)
    spread = drift = 0.0
    for f in fills:
        mid = f.price if f.resting else \
            f.mid_at_send if f.mid_at_send is not None else arrival_price
        spread += s * f.units * (f.price - mid)
        drift += s * f.units * (mid - arrival_price)
    unfilled = max(0, ordered - filled)
    opportunity = s * unfilled * (end_price - decision) \
        if end_price is not None and unfilled else 0.0
    return Shortfall(decision_price=decision, arrival_price=arrival_price, end_price=end_price,
                     delay=s * filled * (arrival_price - decision), spread=spread, drift=drift,
                     opportunity=opportunity, fees=fees, ordered_value=ordered * decision)


__all__ = ["Fill", "Shortfall", "implementation_shortfall"]
