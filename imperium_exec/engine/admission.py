"""Who may send: every parent is checked against the pre-trade limits (:mod:`imperium_exec.risk`)
before it is handed to the loop, and holds a send permit until it ends.

Admission and the permits share one lock, so two submits from two threads cannot both take the
last working slot or the last orders of the day.

The limits that need a price (premium, price band, limit price through the touch, premium of the
day) use the request's own prices, else the newest quote the engine holds. A parent with neither
is checked on the loop before its first child, once its first quote came (:meth:`priced_refusal`;
a basket's legs before any leg starts), and so is the margin of a sell, or of a big buy, where
the broker offers a margin check (:meth:`margin_refusal`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from ..baskets.lifecycle import PlannedLeg
from ..brokers.base import MarginCheck, MarginLeg, Quote
from ..clock import Clock
from ..request import ExecutionRequest, Side
from ..risk import (
    PRICED_LIMITS,
    AccountNow,
    Breach,
    RiskLimits,
    RiskRefusal,
    breaches,
    needs_quote,
    premium_price,
    with_quote,
)
from ..timeutil import ist_day_start
from .gateway import BrokerGateway, SendPermit
from .market_data import MarketDataService, instrument_key
from .placement import Placer
from .rate_budget import RateBudget, RequestKind
from .state import ParentState


class Admission:
    """The pre-trade limits and the send permits of one engine."""

    def __init__(self, *, limits: RiskLimits, budget: RateBudget, gateway: BrokerGateway,
                 clock: Clock,
                 check_margin: Callable[[list[MarginLeg]], MarginCheck] | None,
                 market_data: MarketDataService, placer: Placer) -> None:
        self.limits = limits
        self.market_data = market_data
        self.placer = placer
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
        #: Premium each working parent counts in the day's total until it ends (then what it
        #: traded counts instead), with the day it was counted in.
        self._premium_of: dict[str, tuple[float, Side, float]] = {}
        #: Parents admitted with no price known, checked on the loop once a quote came; True:
        #: the trader confirmed past the size limits.
        self._unpriced: dict[str, bool] = {}

    # ------------------------------------------------------------------ any thread

    def preview(self, leg: PlannedLeg) -> list[Breach]:
        """The limits ``leg`` would break if submitted now (nothing is registered)."""
        with self._lock:
            premium = self._premium_of_today()
            account = AccountNow(len(self._permits), self._unreserved_today(),
                                 premium[Side.BUY], premium[Side.SELL])
        return breaches(self._priced(leg.request), planned_orders=len(leg.plan.children),
                        account=account, limits=self.limits)

    def admit(self, legs: list[PlannedLeg], *, override_limits: bool,
              basket: bool) -> dict[str, SendPermit]:
        """Check each parent against the limits and, when every one passes, register their
        permits and premium. Raises :class:`RiskRefusal` naming each breach (a basket's as
        ``legs[i].<limit>``); size limits are lifted by ``override_limits``."""
        with self._lock:
            premium = dict(self._premium_of_today())
            left = self._unreserved_today()
            refused: list[Breach] = []
            day = self._premium_day
            counted: dict[str, tuple[float, Side, float]] = {}
            unpriced: dict[str, bool] = {}
            for i, leg in enumerate(legs):
                orders = len(leg.plan.children)
                account = AccountNow(len(self._permits) + i, left, premium[Side.BUY],
                                     premium[Side.SELL])
                request = self._priced(leg.request)
                found = [b for b in breaches(request, planned_orders=orders,
                                             account=account, limits=self.limits)
                         if not (override_limits and b.soft)]
                refused += [Breach(f"legs[{i}].{b.limit}" if basket else b.limit, b.reason,
                                   b.soft) for b in found]
                left = None if left is None else left - orders
                price = premium_price(request)
                if price is None or needs_quote(request):
                    unpriced[leg.parent_id] = override_limits
                else:
                    premium[request.side] += request.quantity * price
                    assert day is not None
                    counted[leg.parent_id] = (day, request.side, request.quantity * price)
            if refused:
                raise RiskRefusal(refused)
            permits = {leg.parent_id: SendPermit() for leg in legs}
            self._permits.update(permits)
            self._unsent.update({leg.parent_id: len(leg.plan.children) for leg in legs})
            self._premium_today = premium
            self._premium_of.update(counted)
            self._unpriced.update(unpriced)
        return permits

    def permit(self, parent_id: str) -> SendPermit | None:
        with self._lock:
            return self._permits.get(parent_id)

    def permits(self) -> list[SendPermit]:
        """Every parent's that has not ended."""
        with self._lock:
            return list(self._permits.values())

    def drop(self, parent_id: str, traded_premium: float = 0.0) -> None:
        """The parent ended, having traded ``traded_premium`` rupees: its working slot and
        what it reserved are free again, and the day's premium counts what it traded instead
        of what it was sent for."""
        with self._lock:
            self._permits.pop(parent_id, None)
            self._unsent.pop(parent_id, None)
            self._unpriced.pop(parent_id, None)
            counted = self._premium_of.pop(parent_id, None)
            if counted is not None:
                day, side, premium = counted
                if day == self._premium_day:  # (a new day started afresh)
                    self._premium_today[side] += traded_premium - premium

    def placed(self, parent_id: str) -> None:
        """A placement write of ``parent_id`` was spent (the engine's loop tells)."""
        with self._lock:
            if self._unsent.get(parent_id, 0) > 0:
                self._unsent[parent_id] -= 1

    def unplanned(self, parent_id: str, count: int) -> None:
        """``count`` of ``parent_id``'s planned placements will not be sent (a slice re-priced
        its resting orders in place instead): the day's reservation lets them go."""
        with self._lock:
            if parent_id in self._unsent:
                self._unsent[parent_id] = max(0, self._unsent[parent_id] - count)

    def count_traded_today(self, bought: float, sold: float) -> None:
        """Premium an earlier session of the day traded (read from the journal at a restart):
        the day's premium limits count it too."""
        with self._lock:
            premium = self._premium_of_today()
            premium[Side.BUY] += bought
            premium[Side.SELL] += sold

    def _priced(self, request: ExecutionRequest) -> ExecutionRequest:
        """``request`` with the prices it lacks taken from the newest quote held."""
        if premium_price(request) is not None and not needs_quote(request):
            return request
        held = self.market_data.latest(instrument_key(request.exchange, request.tradingsymbol))
        if held is None:
            return request
        quote = held.quote
        return with_quote(request, bid=quote.bid, ask=quote.ask, ltp=quote.ltp)

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
        left = self.budget.placements_left_today()
        if left is None:
            return None
        return left - sum(self._unsent.values())

    # ------------------------------------------------------------------ the loop

    def is_unpriced(self, parent_id: str) -> bool:
        """Admitted with no price known: the limits that need one are still to check."""
        with self._lock:
            return parent_id in self._unpriced

    async def price_refusal(self, parent: ParentState) -> str | None:
        """The limits that need a price, for a parent submitted with none known: checked
        with its first quote (waited for, up to the placer's ``quote_wait_s``); the refusal,
        or None."""
        if parent.stopping or not self.is_unpriced(parent.parent_id):
            return None
        market = await self.placer.price(parent, wait=True)
        if parent.stopping:
            return None
        leg = PlannedLeg(parent.parent_id, parent.request, parent.plan, 0)
        return self.priced_refusal([(leg, market.quote if market is not None else None)],
                                   basket=False, waited_s=self.placer.config.quote_wait_s)

    async def basket_price_refusal(self, legs: list[PlannedLeg]) -> str | None:
        """:meth:`price_refusal` for a basket's legs, before any of them starts."""
        unpriced = [leg for leg in legs if self.is_unpriced(leg.parent_id)]
        if not unpriced:
            return None
        keys = [instrument_key(leg.request.exchange, leg.request.tradingsymbol)
                for leg in unpriced]
        wait = self.placer.config.quote_wait_s
        self.market_data.subscribe(keys)
        try:
            quotes = await asyncio.gather(*(self.market_data.fresh(key, timeout=wait)
                                            for key in keys))
        finally:
            self.market_data.unsubscribe(keys)
        quote_of = {leg.parent_id: held.quote if held is not None else None
                    for leg, held in zip(unpriced, quotes, strict=True)}
        return self.priced_refusal([(leg, quote_of.get(leg.parent_id)) for leg in legs],
                                   basket=True, waited_s=wait)

    def priced_refusal(self, legs: list[tuple[PlannedLeg, Quote | None]], *,
                       basket: bool, waited_s: float) -> str | None:
        """Check the limits that need a price for parents admitted without one (the others
        are passed over), now that a quote came (None: none came within ``waited_s`` seconds);
        the refusal, or None (their premium then counts in the day's)."""
        with self._lock:
            premium = dict(self._premium_of_today())
            day = self._premium_day
            assert day is not None
            refused: list[str] = []
            counted: dict[str, tuple[float, Side, float]] = {}
            for i, (leg, quote) in enumerate(legs):
                override = self._unpriced.pop(leg.parent_id, None)
                if override is None:
                    continue
                name = f"legs[{i}]." if basket else ""
                request = leg.request if quote is None else with_quote(
                    leg.request, bid=quote.bid, ask=quote.ask, ltp=quote.ltp)
                price = premium_price(request)
                if price is None or (quote is None and needs_quote(request)):
                    refused.append(f"{name}price: no quote of {request.tradingsymbol} came "
                                   f"within {waited_s:g} s to check its premium and price "
                                   "limits")
                    continue
                account = AccountNow(0, None, premium[Side.BUY], premium[Side.SELL])
                refused += [f"{name}{b.limit}: {b.reason}"
                            for b in breaches(request, planned_orders=0, account=account,
                                              limits=self.limits)
                            if b.limit in PRICED_LIMITS and not (override and b.soft)]
                premium[request.side] += request.quantity * price
                counted[leg.parent_id] = (day, request.side, request.quantity * price)
            if refused:
                return "; ".join(refused) + "; nothing was sent"
            self._premium_today = premium
            self._premium_of.update(counted)
            return None

    async def margin_refusal(self, parent: ParentState) -> str | None:
        """Whether the broker's margin covers this sell, or this buy above
        ``RiskLimits.check_margin_of_buys_above`` of premium (see ``RiskLimits.check_margin``;
        a basket's legs are checked together, as a basket); the refusal, or None."""
        if not self.limits.check_margin or self._check_margin is None \
                or parent.basket is not None or parent.stopping \
                or not self._margin_checked(parent):
            return None
        leg = MarginLeg.of(parent.request)
        try:
            margin = await self.gateway.call(RequestKind.MARGIN_READ, self._check_margin, [leg])
        except Exception as exc:  # the check itself failed: do not send blind
            return f"margin: the check failed ({type(exc).__name__}: {exc}); nothing was sent"
        if margin.shortfall <= 0:
            return None
        return (f"margin: the order needs {margin.required:,.2f} but {margin.available:,.2f} is "
                f"available, short by {margin.shortfall:,.2f}; nothing was sent")

    def _margin_checked(self, parent: ParentState) -> bool:
        """A sell always; a buy when its premium is above the limit's threshold."""
        if parent.request.side is Side.SELL:
            return True
        above = self.limits.check_margin_of_buys_above
        with self._lock:
            counted = self._premium_of.get(parent.parent_id)
        return above is not None and counted is not None and counted[2] > above
