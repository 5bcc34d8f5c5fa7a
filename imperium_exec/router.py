"""SmartOrderRouter: where a child goes, how it sits in the queue, and at what price.

v1 has one route (the primary broker); the decision type already carries the route name so a
second venue or broker can be added without touching the engine.

Queue posture, from the spread (in ticks) and the urgency:

* ``take``: cross the spread now. High urgency, a tight book (one tick: nothing to gain by
  waiting), an IMMEDIATE market order, or the final slice of a schedule (a TWAP's contract is
  to be done by the end of its window). MARKET orders carry Kite's market protection.
* ``join``: rest at our own touch (a buy at the bid) and let the market come. Scheduled
  algorithms at normal urgency in a wide book (>= ``join_spread_ticks``).
* ``neutral``: a limit at the mid, rounded to our passive side. Scheduled algorithms at normal
  urgency in a medium book.

A LIMIT parent's price is a hard limit: a buy never pays more than it, a sell never receives
less, whatever the posture says. Prices are rounded to the tick toward the passive side.
"""

from __future__ import annotations

from dataclasses import dataclass

from .algos.registry import algorithm_for
from .brokers.base import Quote
from .events import QueuePriority
from .request import ExecutionRequest, OrderType, Side, Urgency
from .timeutil import round_to_tick


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: str
    queue_priority: QueuePriority
    order_type: OrderType
    limit_price: float | None  # None for MARKET
    market_protection: int | None  # set for MARKET
    bid: float | None
    ask: float | None

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2.0
        return None


@dataclass(frozen=True)
class SmartOrderRouter:
    primary_route: str = "primary"
    #: Spread (in ticks) from which a patient scheduled child joins the queue instead of
    #: pricing at the mid.
    join_spread_ticks: int = 4

    def decide(self, request: ExecutionRequest, quote: Quote | None = None,
               route: str | None = None, *, final_slice: bool = False,
               pay_up_ticks: int | None = None) -> RouteDecision:
        """Route one child, using the live ``quote`` when there is one, else the request's book.

        ``final_slice``: the last slice of a scheduled algorithm takes liquidity, so the parent
        completes inside its window (a LIMIT parent still never goes past its limit).
        ``pay_up_ticks`` (a basket's hedge child, whose fill is what lets the legs it covers
        go): the child takes liquidity whatever the algorithm's posture; at 0 as the order
        type says (a MARKET child at the market, a LIMIT one at the touch), above 0 with a
        limit that many ticks through the touch; never past the leg's own limit.
        """
        # A quote is the whole truth: a side it lacks is empty, never the ticket's (older) one.
        bid = quote.bid if quote is not None else request.bid
        ask = quote.ask if quote is not None else request.ask
        name = route or self.primary_route
        if pay_up_ticks is not None and bid is not None and ask is not None:
            buy = request.side is Side.BUY
            if pay_up_ticks == 0 and request.order_type is OrderType.MARKET:
                return RouteDecision(name, QueuePriority.TAKE, OrderType.MARKET, None,
                                     request.market_protection, bid, ask)
            through = pay_up_ticks * request.tick_size
            paid = ask + through if buy else bid - through
            if request.limit_price is not None:
                paid = min(paid, request.limit_price) if buy else max(paid,
                                                                      request.limit_price)
            if paid > 0:
                crosses = paid >= ask if buy else paid <= bid
                return RouteDecision(name, QueuePriority.TAKE if crosses
                                     else QueuePriority.NEUTRAL, OrderType.LIMIT,
                                     round_to_tick(paid, request.tick_size,
                                                   "down" if buy else "up"), None, bid, ask)
        algorithm = algorithm_for(request.execution_algo)
        posture = self._posture(request, bid, ask)
        if final_slice and algorithm.scheduled and bid is not None and ask is not None:
            posture = QueuePriority.TAKE

        if posture is QueuePriority.TAKE and request.order_type is OrderType.MARKET:
            return RouteDecision(name, posture, OrderType.MARKET, None,
                                 request.market_protection, bid, ask)
        price = self._price(request, posture, bid, ask)
        if price is None:  # no book and no limit: only a protected market order is possible
            return RouteDecision(name, QueuePriority.TAKE, OrderType.MARKET, None,
                                 request.market_protection, bid, ask)
        return RouteDecision(name, posture, OrderType.LIMIT, price, None, bid, ask)

    def _posture(self, request: ExecutionRequest, bid: float | None,
                 ask: float | None) -> QueuePriority:
        if request.execution_urgency is Urgency.HIGH:
            return QueuePriority.TAKE
        if bid is None or ask is None:
            return QueuePriority.NEUTRAL if request.order_type is OrderType.LIMIT \
                else QueuePriority.TAKE
        if algorithm_for(request.execution_algo).sends_as_ticketed:
            return QueuePriority.TAKE if request.order_type is OrderType.MARKET \
                else QueuePriority.NEUTRAL
        spread_ticks = round((ask - bid) / request.tick_size)
        if spread_ticks <= 1:
            return QueuePriority.TAKE
        if spread_ticks >= self.join_spread_ticks:
            return QueuePriority.JOIN
        return QueuePriority.NEUTRAL

    def _price(self, request: ExecutionRequest, posture: QueuePriority, bid: float | None,
               ask: float | None) -> float | None:
        buy = request.side is Side.BUY
        passive = "down" if buy else "up"
        tick = request.tick_size
        price: float | None
        if bid is None or ask is None:
            price = request.limit_price
        elif posture is QueuePriority.TAKE:
            price = ask if buy else bid
        elif posture is QueuePriority.JOIN:
            price = bid if buy else ask
        elif (request.limit_price is not None
              and algorithm_for(request.execution_algo).sends_as_ticketed):
            price = request.limit_price  # as the trader priced it
        else:
            price = (bid + ask) / 2.0
        if price is None:
            return None
        if request.limit_price is not None:
            price = min(price, request.limit_price) if buy else max(price, request.limit_price)
        return round_to_tick(price, tick, passive)
