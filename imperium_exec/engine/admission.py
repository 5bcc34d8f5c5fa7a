"""Who may send: every parent is checked against the pre-trade limits (:mod:`imperium_exec.risk`)
before it is handed to the loop, and holds a send permit until it ends.

Admission and the permits share one lock, so two submits from two threads cannot both take the
last working slot or the last orders of the day. The margin of a single order is asked of the
broker (where it offers a margin check) on the loop, before the parent's first child.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..baskets.lifecycle import PlannedLeg
from ..brokers.base import MarginCheck, MarginLeg
from ..clock import Clock
from ..request import Side
from ..risk import AccountNow, Breach, RiskLimits, RiskRefusal, breaches, premium_price
from ..timeutil import ist_day_start
from .gateway import BrokerGateway, SendPermit
from .rate_budget import RateBudget, RequestKind
from .state import ParentState


class Admission:
    """The pre-trade limits and the send permits of one engine."""

    def __init__(self, *, limits: RiskLimits, budget: RateBudget, gateway: BrokerGateway,
                 clock: Clock,
                 check_margin: Callable[[list[MarginLeg]], MarginCheck] | None) -> None:
        self.limits = limits
        self.budget = budget
        self.gateway = gateway
        self.clock = clock
        self._check_margin = check_margin
        self._lock = threading.Lock()
        self._permits: dict[str, SendPermit] = {}
        #: Placements each working parent planned and has not spent yet: reserved from the
        #: day's order budget, so a later parent cannot take what an earlier one will need.
        self._unsent: dict[str, int] = {}
        self._premium_day: float | None = None  # the IST day (its start) of the premium below
        self._premium_today: dict[Side, float] = {Side.BUY: 0.0, Side.SELL: 0.0}

    # ------------------------------------------------------------------ any thread

    def preview(self, leg: PlannedLeg) -> list[Breach]:
        """The limits ``leg`` would break if submitted now (nothing is registered)."""
        with self._lock:
            premium = self._premium_of_today()
            account = AccountNow(len(self._permits), self._unreserved_today(),
                                 premium[Side.BUY], premium[Side.SELL])
        return breaches(leg.request, planned_orders=len(leg.plan.children), account=account,
                        limits=self.limits)

    def admit(self, legs: list[PlannedLeg], *, override_limits: bool,
              basket: bool) -> dict[str, SendPermit]:
        """Check each parent against the limits and, when every one passes, register their
        permits and premium. Raises :class:`RiskRefusal` naming each breach (a basket's as
        ``legs[i].<limit>``); size limits are lifted by ``override_limits``."""
        with self._lock:
            premium = dict(self._premium_of_today())
            left = self._unreserved_today()
            refused: list[Breach] = []
            for i, leg in enumerate(legs):
                orders = len(leg.plan.children)
                account = AccountNow(len(self._permits) + i, left, premium[Side.BUY],
                                     premium[Side.SELL])
                found = [b for b in breaches(leg.request, planned_orders=orders,
                                             account=account, limits=self.limits)
                         if not (override_limits and b.soft)]
                refused += [Breach(f"legs[{i}].{b.limit}" if basket else b.limit, b.reason,
                                   b.soft) for b in found]
                left = None if left is None else left - orders
                price = premium_price(leg.request)
                premium[leg.request.side] += leg.request.quantity * (price or 0.0)
            if refused:
                raise RiskRefusal(refused)
            permits = {leg.parent_id: SendPermit() for leg in legs}
            self._permits.update(permits)
            self._unsent.update({leg.parent_id: len(leg.plan.children) for leg in legs})
            self._premium_today = premium
        return permits

    def permit(self, parent_id: str) -> SendPermit | None:
        with self._lock:
            return self._permits.get(parent_id)

    def permits(self) -> list[SendPermit]:
        """Every parent's that has not ended."""
        with self._lock:
            return list(self._permits.values())

    def drop(self, parent_id: str) -> None:
        """The parent ended: its working slot and what it reserved are free again."""
        with self._lock:
            self._permits.pop(parent_id, None)
            self._unsent.pop(parent_id, None)

    def placed(self, parent_id: str) -> None:
        """A placement write of ``parent_id`` was spent (the engine's loop tells)."""
        with self._lock:
            if self._unsent.get(parent_id, 0) > 0:
                self._unsent[parent_id] -= 1

    def _premium_of_today(self) -> dict[Side, float]:
        """Premium bought and sold in the parents admitted this IST day (a new day: none)."""
        day = ist_day_start(self.clock.now())
        if self._premium_day != day:
            self._premium_day, self._premium_today = day, {Side.BUY: 0.0, Side.SELL: 0.0}
        return self._premium_today

    def _unreserved_today(self) -> int | None:
        """Order writes the broker still allows today for placements (cancels keep their
        reserve), less what working parents planned and have not sent yet; None without a
        day limit."""
        left = self.budget.writes_left_today()
        if left is None:
            return None
        return left - self.budget.limits.cancel_reserve_per_day - sum(self._unsent.values())

    # ------------------------------------------------------------------ the loop

    async def margin_refusal(self, parent: ParentState) -> str | None:
        """Whether the broker's margin covers this sell (see ``RiskLimits.check_margin``; a
        basket's legs are checked together, as a basket); the refusal, or None."""
        if not self.limits.check_margin or self._check_margin is None \
                or parent.basket is not None or parent.stopping \
                or parent.request.side is not Side.SELL:
            return None
        req = parent.request
        leg = MarginLeg(req.tradingsymbol, req.exchange, req.side, req.quantity,
                        req.order_type, req.limit_price, req.product)
        try:
            margin = await self.gateway.call(RequestKind.MARGIN_READ, self._check_margin, [leg])
        except Exception as exc:  # the check itself failed: do not send blind
            return f"margin: the check failed ({type(exc).__name__}: {exc}); nothing was sent"
        if margin.shortfall <= 0:
            return None
        return (f"margin: the order needs {margin.required:,.2f} but {margin.available:,.2f} is "
                f"available, short by {margin.shortfall:,.2f}; nothing was sent")
