"""The paper exchange's true trading costs, as the slippage model's parameters: one place.

What a child really pays on this exchange, against the arrival mid (see :mod:`.market` and
:mod:`.matching`), and where the estimate gets each part from:

- **the spread**: a taking child pays the half-spread the book quotes (``spread_fraction`` of
  the premium, at least ``min_spread_ticks``, wider away from the money). The estimate reads it
  from the live quote, so it needs no parameter;
- **walking the book**: a child larger than the touch fills level by level (``depth_lots`` at
  the money, thinner away from it, depleted by our own earlier takes for
  ``book_resilience_s``). The quote shows five levels; the estimate walks them (and, like the
  exchange, repeats the fifth beyond them);
- **our impact** (:class:`.config.ImpactConfig`): every unit filled moves the fair price by
  ``permanent_per_unit`` for good and ``temporary_per_unit`` more, decaying with
  ``temporary_half_life_s``. A fill never pays its own impact; later children of the parent do.
  These are the Almgren-Chriss linear terms of :class:`~..costs.slippage.SlippageParams`,
  with the same units and meaning;
- **volatility** (the index's random walk, ``annual_vol``) moves the price both ways: it is
  timing risk, zero in expectation, so it adds nothing to the expected cost. The exchange has no
  volatility-scaled impact, so the power-law terms (``eta``, ``gamma``) are zero here;
- **fees**: the exchange charges none (the engine adds the dated Indian F&O charges itself);
- **adverse selection** (:class:`.config.AdverseSelectionConfig`, off by default): the price
  drifting against each fill afterwards costs the fill nothing; its markouts show it.

Option decay (theta) is a drift the model leaves out: over a schedule of minutes it makes
buys look cheaper and sells dearer than this estimate, by the same amount.
"""

from __future__ import annotations

from ..costs.slippage import SlippageParams
from .config import PaperConfig


def paper_slippage_params(config: PaperConfig) -> SlippageParams:
    """The slippage model's parameters that describe ``config``'s paper exchange."""
    impact = config.impact
    return SlippageParams(
        eta=0.0, gamma=0.0,  # no volatility-scaled impact on this exchange
        fees_bps=0.0,
        permanent_per_unit=impact.gamma,  # 0 when impact is switched off
        temporary_per_unit=impact.eta,
        temporary_half_life_s=impact.temporary_half_life_s,
    )


__all__ = ["paper_slippage_params"]
