"""Did a fill take liquidity or rest? Decided from what happened, not from the router's intent.

A child *takes* liquidity when its price was at or through the far touch when it was sent
(a BUY's limit at or above the ask, a SELL's at or below the bid; a MARKET child always);
otherwise it *rests* in the book until the market comes to it. The router's intent
(``queue_priority``: take, join, neutral) is decided before the price is capped at the parent's
limit, so a "take" child whose limit sits below the ask rests: its fill is a resting one.

Rows from schema version 8 on carry the far touch the child was priced against
(``touch_at_send``). Older rows do not: a limit on the passive side of the mid it was priced
from (``mid_at_send``) still rests whatever the spread was; for the rest the router's intent
is all there is. ``tca`` applies the same rule in SQL (:data:`imperium_exec.tca.journal`'s
``LIQUIDITY``); a test holds the two together.
"""

from __future__ import annotations

from enum import StrEnum

from ..request import Side
from .kinds import QueuePriority

#: Prices a tick apart differ by 0.05 at least; this absorbs float noise only.
PRICE_TOLERANCE = 1e-9


class Liquidity(StrEnum):
    TAKING = "taking"
    RESTING = "resting"


def fill_liquidity(side: Side | str | None, limit_price: float | None,
                   touch_at_send: float | None, mid_at_send: float | None,
                   queue_priority: QueuePriority | str | None) -> Liquidity | None:
    """Whether a child's fills took liquidity or rested (None: nothing says)."""
    sign = -1.0 if side == Side.SELL else 1.0
    if limit_price is None:
        # A MARKET child takes; a row without its limit (an older markout row) says nothing
        # of the price: only the intent is left.
        if touch_at_send is not None or mid_at_send is not None:
            return Liquidity.TAKING
    elif touch_at_send is not None:
        through = sign * (limit_price - touch_at_send) >= -PRICE_TOLERANCE
        return Liquidity.TAKING if through else Liquidity.RESTING
    elif mid_at_send is not None and sign * (limit_price - mid_at_send) < -PRICE_TOLERANCE:
        return Liquidity.RESTING
    if queue_priority is None:
        return None
    return Liquidity.TAKING if queue_priority == QueuePriority.TAKE else Liquidity.RESTING


__all__ = ["PRICE_TOLERANCE", "Liquidity", "fill_liquidity"]
