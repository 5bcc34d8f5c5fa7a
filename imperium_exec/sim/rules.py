"""Exchange and broker rules an order must pass, refused with Kite's exception and wording.

- Order parameters (lot multiple, freeze quantity, tick, market protection, tag length, limit
  price protection band) -> ``InputException`` 400, the order never reaches the book.
- Order request rate (10 per second, 400 per minute, 5,000 per day, counted per calendar
  second and minute, rejected requests included) -> ``NetworkException`` 429 "Too many requests".
- Margin (a simple SPAN-like account: premium for buys, a fraction of the underlying notional
  for naked shorts, only the spread's maximum loss for shorts that filled longs of the same
  underlying, expiry and type cover, funds blocked by open orders) -> ``GeneralException`` 400
  at once, or an accepted order that turns REJECTED with the RMS message, as Kite usually
  does.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..brokers.base import OrderInstruction
from ..brokers.errors import GeneralException, InputException, NetworkException
from ..costs.margin import BasketMargin, OptionLeg, basket_margin, short_margin
from ..instruments import price_band
from ..request import OrderType, Side
from ..timeutil import is_on_tick
from .chain import Instrument
from .config import AccountConfig, RulesConfig

MARKETS_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."
CIRCUIT_MESSAGE = ("Price exceeds circuit limits for the instrument. Place an order within the "
                   "daily range.")
VALIDITIES = ("DAY", "IOC")
PRODUCTS = ("NRML", "MIS")


def lpp_band(reference: float, rules: RulesConfig, tick: float) -> tuple[float, float]:
    """NSE limit price protection around a reference price: (lowest sell, highest buy)."""
    return price_band(reference, tick, threshold=rules.lpp_threshold,
                      absolute=rules.lpp_absolute, fraction=rules.lpp_fraction)


def auto_protection_pct(ltp: float, rules: RulesConfig) -> float:
    """Kite's automatic market protection (market_protection=-1) for a last price."""
    for up_to, pct in rules.auto_protection:
        if ltp <= up_to:
            return pct
    return rules.auto_protection[-1][1]


def validate_order(order: OrderInstruction, inst: Instrument, rules: RulesConfig) -> None:
    """Checks that need no market data; raises ``InputException`` with Kite-like text."""
    symbol = f"{inst.exchange}:{inst.tradingsymbol}"
    if order.variety != "regular":
        raise InputException(f"Invalid `variety` {order.variety!r}: the paper exchange takes "
                             "regular orders only.")
    if order.validity not in VALIDITIES:
        raise InputException(f"Invalid `validity` {order.validity!r}: use DAY or IOC.")
    if order.product not in PRODUCTS:
        raise InputException(f"Invalid `product` {order.product!r} for {symbol}: options trade "
                             "as NRML or MIS.")
    if len(order.tag) > rules.max_tag_length:
        raise InputException(f"Tag length should be at most {rules.max_tag_length} characters "
                             f"(got {len(order.tag)}: {order.tag!r}).")
    if order.quantity <= 0:
        raise InputException(f"Invalid `quantity` {order.quantity}: must be positive.")
    lot = inst.lot_size
    if order.quantity % lot:
        raise InputException(f"Quantity {order.quantity} should be a multiple of the lot size "
                             f"{lot} for {symbol} ({order.quantity / lot:g} lots).")
    max_lots = max(1, inst.freeze_quantity // lot)
    if order.quantity > max_lots * lot:
        raise InputException(
            f"The order quantity {order.quantity} ({order.quantity // lot} lots) is higher than "
            f"the maximum quantity of {max_lots * lot} ({max_lots} lots) allowed by the "
            "exchanges. Please reduce the order quantity or use iceberg orders.")
    if order.order_type is OrderType.MARKET:
        mp = order.market_protection
        if mp is None or mp == 0 or not (mp == -1 or 1 <= mp <= 100):
            raise InputException(
                f"Market orders need market protection (got {mp}): set market_protection to -1 "
                "(automatic) or a percentage from 1 to 100.")
    else:
        price = order.limit_price
        if price is None or price <= 0:
            raise InputException(f"Invalid `price` {price} for a LIMIT order on {symbol}.")
        if not is_on_tick(price, inst.tick_size):
            raise InputException(
                f"Tick size for this script is {inst.tick_size:g}. Kindly enter price in the "
                f"multiple of tick size for this script (got {price} for {symbol}).")


def check_price_band(order: OrderInstruction, band: tuple[float, float]) -> None:
    """Limit price protection: a buy above the band or a sell below it is refused."""
    price = order.limit_price
    if order.order_type is not OrderType.LIMIT or price is None:
        return
    low, high = band
    if order.side is Side.BUY and price > high + 1e-9:
        raise InputException(f"{CIRCUIT_MESSAGE} (buy limit {price:g} is above the highest "
                             f"allowed {high:g})")
    if order.side is Side.SELL and price < low - 1e-9:
        raise InputException(f"{CIRCUIT_MESSAGE} (sell limit {price:g} is below the lowest "
                             f"allowed {low:g})")


class Throttle:
    """Order request limits per calendar second, minute and IST day."""

    def __init__(self, rules: RulesConfig) -> None:
        self._rules = rules
        self._recent: deque[float] = deque()  # request epochs within the current minute
        self._day: int | None = None
        self._today = 0

    def admit(self, epoch: float) -> None:
        """Count one order write at ``epoch``, or raise when a limit is reached."""
        second, minute = math.floor(epoch), math.floor(epoch / 60.0)
        while self._recent and math.floor(self._recent[0] / 60.0) != minute:
            self._recent.popleft()
        in_second = sum(1 for t in self._recent if math.floor(t) == second)
        if in_second >= self._rules.orders_per_second or \
                len(self._recent) >= self._rules.orders_per_minute:
            raise NetworkException("Too many requests", code=429)
        day = math.floor((epoch + 19_800.0) / 86_400.0)  # IST calendar day
        if day != self._day:
            self._day, self._today = day, 0
        if self._today >= self._rules.orders_per_day:
            raise NetworkException("Maximum allowed order requests exceeded.", code=400)
        self._today += 1
        self._recent.append(epoch)


@dataclass
class _Position:
    inst: Instrument
    quantity: int = 0  # signed units


class Account:
    """Available margin, what an order needs, and what fills and open orders use up.

    Margin is SPAN-like with the hedge benefit (:mod:`imperium_exec.costs.margin`): buys need their
    premium; the short units of a hedge group (underlying, expiry, CE/PE) that filled longs of
    the group cover need only the spread's maximum loss, the others ``short_margin_fraction``
    of the underlying's notional at the spot of the moment (``spot(underlying)``). Premium
    paid and not yet offset by premium received is used up too, as are the funds open orders
    hold.
    """

    def __init__(self, cfg: AccountConfig, spot: Callable[[str], float]) -> None:
        self._cfg = cfg
        self._spot = spot
        self.cash = 0.0  # premium received minus premium paid
        self._positions: dict[str, _Position] = {}
        self._blocked: dict[str, float] = {}  # order id -> funds held for its open quantity

    @property
    def utilised(self) -> float:
        return max(0.0, -self.cash) + self.short_margin() + sum(self._blocked.values())

    @property
    def available(self) -> float:
        return self._cfg.margin - self.utilised

    def position(self, tradingsymbol: str) -> int:
        """Signed units held of one instrument."""
        pos = self._positions.get(tradingsymbol)
        return pos.quantity if pos else 0

    def legs(self) -> list[OptionLeg]:
        """The positions held, as margin legs (their premium was paid already)."""
        return [option_leg(p.inst, p.quantity) for p in self._positions.values() if p.quantity]

    def short_margin(self, extra: Sequence[OptionLeg] = ()) -> float:
        """The hedged short margin of the positions held (plus ``extra`` legs)."""
        legs = [*self.legs(), *extra]
        spots = {leg.underlying: self._spot(leg.underlying) for leg in legs if leg.quantity < 0}
        return short_margin(legs, spots, self._cfg.short_margin_fraction)

    def required(self, inst: Instrument, side: Side, quantity: int, price: float) -> float:
        """Funds an order needs: premium for a buy; for a sell, what the short units it opens
        add to the margin of the positions filled so far (a long not yet filled hedges
        nothing: the exchange gives the benefit once the long leg exists)."""
        if side is Side.BUY:
            return quantity * price
        return max(0.0, self.short_margin([option_leg(inst, -quantity)]) - self.short_margin())

    def basket(self, legs: Sequence[tuple[Instrument, Side, int, float]]) -> BasketMargin:
        """What ``(instrument, side, units, price)`` legs would add to the positions held once
        all of them filled, and what each needs alone."""
        basket = [option_leg(inst, side.sign * quantity, price if side is Side.BUY else 0.0)
                  for inst, side, quantity, price in legs]
        held = self.legs()
        spots = {leg.underlying: self._spot(leg.underlying) for leg in [*held, *basket]}
        return basket_margin(basket, spots, self._cfg.short_margin_fraction, held=held)

    def check(self, required: float) -> str | None:
        """Kite's RMS message when ``required`` exceeds what is available, else None."""
        available = self.available
        if required <= available + 1e-6:
            return None
        return (f"Insufficient funds. Required margin is {required:.2f} but available margin is "
                f"{max(0.0, available):.2f}. Check the orderbook for open orders.")

    @staticmethod
    def rms_raw(required: float, available: float) -> str:
        return (f"RMS:Margin Exceeds,Required:{required:.2f}, Available:{max(0.0, available):.2f}"
                " for entity account-PAPER across exchange across segment across product ")

    def refuse_sync(self, message: str) -> GeneralException:
        """Kite's MarginException arrives through the client as GeneralException 400."""
        return GeneralException(message, code=400)

    def block(self, order_id: str, amount: float) -> None:
        self._blocked[order_id] = max(0.0, amount)

    def blocked(self, order_id: str) -> float:
        return self._blocked.get(order_id, 0.0)

    def release(self, order_id: str) -> None:
        self._blocked.pop(order_id, None)

    def on_fill(self, inst: Instrument, side: Side, quantity: int, price: float) -> None:
        pos = self._positions.setdefault(inst.tradingsymbol, _Position(inst))
        self.cash -= side.sign * quantity * price
        pos.quantity += side.sign * quantity


def option_leg(inst: Instrument, quantity: int, premium: float = 0.0) -> OptionLeg:
    """A listed option as a margin leg of ``quantity`` signed units."""
    if inst.expiry is None or not inst.is_option:
        raise ValueError(f"{inst.tradingsymbol} is not an option")
    return OptionLeg(underlying=inst.name, expiry=inst.expiry, kind=inst.instrument_type,
                     strike=inst.strike, quantity=quantity, premium=premium)
