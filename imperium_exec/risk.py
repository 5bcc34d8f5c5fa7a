"""Pre-trade limits: what the engine refuses before anything reaches the broker.

Every caller gets them (the desk, the API, a basket's legs): :meth:`ExecutionEngine.submit`
checks a parent against :class:`RiskLimits` once its plan is made, and a breach raises
:class:`RiskRefusal` (a :class:`~.request.RequestError` in the ``risk`` bucket), one line per
limit naming the limit, its value and the order's figure. Nothing is sent.

Two kinds of limit:

- **size limits** guard against a slip of the hand: lots, premium value and child orders per
  parent, a limit price far through the touch, premium bought or sold in the day. The trader
  may go past them knowingly: the desk's confirmation passes ``override_limits=True``, and so
  must an API caller;
- **hard limits** no confirmation lifts: a limit price outside the exchange's price band (the
  exchange rejects it anyway), the account's working parents, the broker's day order budget
  (a parent whose planned orders do not fit in what is left), and the margin of a sell or of a
  big buy (checked with the broker, where it offers a margin check, on the engine's loop before
  the first child).

The limits that need a price (:data:`PRICED_LIMITS`) value the order at its own prices, else at
the newest quote the engine holds; a parent with neither is checked once its first quote came,
before its first child (one with no quote at all within the quote wait is refused).

The defaults protect a retail account; change them in one place, a :class:`RiskLimits` given to
the stack or the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .events import ErrorBucket
from .instruments import InstrumentMaster, UnknownInstrumentError, parse_contract, price_band
from .request import ExecutionRequest, OrderType, RequestError, Side


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """The engine's pre-trade limits (see the module docstring). ``None`` turns one off."""

    # size limits (the trader may confirm past them)
    #: Lots in one parent, per underlying; an underlying not named gets
    #: ``max_freezes_per_parent`` freeze quantities (NIFTY: 10 x 27 = 270 lots).
    max_lots: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    max_freezes_per_parent: int | None = 10
    #: Premium value of one parent, rupees: units x its price (the limit, else the touch it
    #: would take, else the last price).
    max_premium_per_parent: float | None = 2_500_000.0
    #: Child orders one parent plans.
    max_orders_per_parent: int | None = 200
    #: A LIMIT price this fraction through the touch (a buy above the ask, a sell below the
    #: bid) is a slip of the hand (a misplaced digit), not an aggressive price.
    max_through_touch: float | None = 0.30
    #: Premium bought, and sold, in one day (IST), rupees, over the parents accepted.
    max_premium_bought_per_day: float | None = None
    max_premium_sold_per_day: float | None = None
    # hard limits
    #: NSE's limit price protection for index options: at most ``lpp_threshold`` rupees, the
    #: band is +/- ``lpp_absolute``; above it +/- ``lpp_fraction`` of the reference price. A
    #: buy above the band or a sell below it is rejected by the exchange.
    price_band: bool = True
    lpp_threshold: float = 50.0
    lpp_absolute: float = 20.0
    lpp_fraction: float = 0.40
    #: Parents working at once on the account.
    max_working_parents: int | None = 200
    #: Ask the broker, before the first child, whether the margin covers a sell (writing an
    #: option blocks far more than its premium). Costs one margin request per sell parent
    #: where the broker has one.
    check_margin: bool = True
    #: A buy pays its premium: one of more than this many rupees is margin-checked too (a
    #: small buy is not, to spare the request; the broker's RMS still rejects one not covered).
    check_margin_of_buys_above: float | None = 100_000.0

    def lots_limit(self, request: ExecutionRequest) -> tuple[int, str] | None:
        """The lots one parent of ``request``'s underlying may hold, and the underlying."""
        underlying = _underlying(request)
        if underlying in self.max_lots:
            return self.max_lots[underlying], underlying
        if self.max_freezes_per_parent is None:
            return None
        per_freeze = max(1, request.freeze_quantity // request.lot_size)
        return self.max_freezes_per_parent * per_freeze, underlying

    def price_band_of(self, reference: float, tick: float) -> tuple[float, float]:
        """(lowest sell, highest buy) the exchange accepts around ``reference``."""
        return price_band(reference, tick, threshold=self.lpp_threshold,
                          absolute=self.lpp_absolute, fraction=self.lpp_fraction)


@dataclass(frozen=True, slots=True)
class AccountNow:
    """What the account holds as a parent is submitted."""

    working_parents: int
    #: Order writes the broker still allows today for placements, less what working parents
    #: planned and have not sent yet (None: no day limit).
    placements_left_today: int | None
    premium_bought_today: float = 0.0
    premium_sold_today: float = 0.0


@dataclass(frozen=True, slots=True)
class Breach:
    limit: str  # the limit's name, as the refusal line starts
    reason: str
    soft: bool  # a size limit the trader may confirm past


class RiskRefusal(RequestError):
    """A parent refused by a pre-trade limit, before anything was sent (bucket ``risk``)."""

    bucket = ErrorBucket.RISK

    def __init__(self, breaches: list[Breach]) -> None:
        self.breaches = breaches
        super().__init__([(b.limit, b.reason) for b in breaches])

    @property
    def confirmable(self) -> bool:
        """Every breach is a size limit: a confirmation may send it anyway."""
        return all(b.soft for b in self.breaches)


#: The limits whose check needs the order's price (see :func:`with_quote`).
PRICED_LIMITS = frozenset({"premium", "price band", "limit price", "premium bought today",
                           "premium sold today"})


def with_quote(request: ExecutionRequest, *, bid: float | None, ask: float | None,
               ltp: float | None) -> ExecutionRequest:
    """``request`` with the touch and last price it lacks taken from a quote (its own prices
    stay), for the limits to value it; never sent."""
    quoted = {"bid": bid, "ask": ask, "ltp": ltp}
    update = {name: value for name, value in quoted.items()
              if getattr(request, name) is None and value is not None}
    return request.model_copy(update=update) if update else request


def needs_quote(request: ExecutionRequest) -> bool:
    """The limits that need a price cannot all be checked from ``request``'s own prices: a
    LIMIT order lacks the reference of its price band (last price or mid) or the touch it
    could go through."""
    if request.order_type is not OrderType.LIMIT:
        return False
    touch = request.ask if request.side is Side.BUY else request.bid
    reference = request.ltp if request.ltp is not None else request.mid
    return touch is None or reference is None


def premium_price(request: ExecutionRequest) -> float | None:
    """The price a parent's premium is valued at: its limit, else the touch it would take
    (the ask for a buy, the bid for a sell), else the last price; None when none is known."""
    if request.limit_price is not None:
        return request.limit_price
    touch = request.ask if request.side is Side.BUY else request.bid
    return touch if touch is not None else request.ltp


def breaches(request: ExecutionRequest, *, planned_orders: int, account: AccountNow,
             limits: RiskLimits) -> list[Breach]:
    """Every limit ``request`` (planned as ``planned_orders`` child orders) breaks now."""
    found: list[Breach] = []
    lots = request.lots
    cap = limits.lots_limit(request)
    if cap is not None and lots > cap[0]:
        found.append(Breach("lots", f"{lots:,} lots is over the {cap[1]} limit of {cap[0]:,} "
                                    "lots for one order", soft=True))
    price = premium_price(request)
    premium = request.quantity * price if price is not None else None
    if limits.max_premium_per_parent is not None and premium is not None \
            and premium > limits.max_premium_per_parent:
        found.append(Breach("premium", f"{_rupees(premium)} of premium ({request.quantity:,} "
                                       f"units at {price:,.2f}) is over the limit of "
                                       f"{_rupees(limits.max_premium_per_parent)} for one "
                                       "order", soft=True))
    if limits.max_orders_per_parent is not None and planned_orders > limits.max_orders_per_parent:
        found.append(Breach("orders", f"{planned_orders:,} child orders planned is over the "
                                      f"limit of {limits.max_orders_per_parent:,} for one "
                                      "order", soft=True))
    found += _price_breaches(request, limits)
    if premium is not None:
        bought = request.side is Side.BUY
        day_limit = limits.max_premium_bought_per_day if bought \
            else limits.max_premium_sold_per_day
        so_far = account.premium_bought_today if bought else account.premium_sold_today
        if day_limit is not None and so_far + premium > day_limit:
            verb = "bought" if bought else "sold"
            found.append(Breach(f"premium {verb} today",
                                f"{_rupees(so_far)} {verb} so far and {_rupees(premium)} more "
                                f"is over the day's limit of {_rupees(day_limit)}", soft=True))
    if limits.max_working_parents is not None \
            and account.working_parents >= limits.max_working_parents:
        found.append(Breach("working parents", f"{account.working_parents} parents are working, "
                                               f"the limit is {limits.max_working_parents}",
                            soft=False))
    left = account.placements_left_today
    if left is not None and planned_orders > left:
        found.append(Breach("orders today", f"{planned_orders:,} child orders planned but the "
                                            f"broker allows {max(0, left):,} more placements "
                                            "today", soft=False))
    return found


def _price_breaches(request: ExecutionRequest, limits: RiskLimits) -> list[Breach]:
    """A LIMIT price outside the exchange's band, or far through the touch."""
    limit = request.limit_price
    if request.order_type is not OrderType.LIMIT or limit is None:
        return []
    found: list[Breach] = []
    buy = request.side is Side.BUY
    reference = request.ltp if request.ltp is not None else request.mid
    if limits.price_band and reference is not None:
        low, high = limits.price_band_of(reference, request.tick_size)
        if (limit > high + 1e-9) if buy else (limit < low - 1e-9):
            found.append(Breach("price band", f"{'buy' if buy else 'sell'} limit {limit:,.2f} "
                                              f"is outside the exchange's band {low:,.2f}-"
                                              f"{high:,.2f} around {reference:,.2f}",
                                soft=False))
    touch = request.ask if buy else request.bid
    if limits.max_through_touch is not None and touch is not None and touch > 0:
        through = (limit - touch) / touch if buy else (touch - limit) / touch
        if through > limits.max_through_touch + 1e-12:
            side = "above the ask" if buy else "below the bid"
            found.append(Breach("limit price", f"limit {limit:,.2f} is {through:.0%} {side} "
                                               f"{touch:,.2f}, more than the "
                                               f"{limits.max_through_touch:.0%} allowed",
                                soft=True))
    return found


def check(request: ExecutionRequest, *, planned_orders: int, account: AccountNow,
          limits: RiskLimits, override_limits: bool = False) -> None:
    """Raise :class:`RiskRefusal` for the limits ``request`` breaks (size limits are lifted by
    ``override_limits``: the trader confirmed)."""
    found = breaches(request, planned_orders=planned_orders, account=account, limits=limits)
    if override_limits:
        found = [b for b in found if not b.soft]
    if found:
        raise RiskRefusal(found)


def _underlying(request: ExecutionRequest, master: InstrumentMaster | None = None) -> str:
    try:
        return parse_contract(request.tradingsymbol, master).underlying
    except UnknownInstrumentError:
        return request.tradingsymbol


def _rupees(value: float) -> str:
    if not math.isfinite(value):
        return f"₹{value}"
    if value >= 1e7:
        return f"₹{value / 1e7:,.2f} crore"
    if value >= 1e5:
        return f"₹{value / 1e5:,.2f} lakh"
    return f"₹{value:,.0f}"
