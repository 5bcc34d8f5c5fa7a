"""The paper exchange: order book, event queue, rules, faults and account over the market.

Not thread-safe and clock-free: every call passes the epoch it happens at, and the exchange
first brings itself forward to it (orders that arrive in between are matched at their own
instant, books with resting orders are stepped). :class:`~..brokers.paper.PaperBroker`
adds the lock, the clock and any real sleeping. Latency is modelled by an order arriving at the
matching engine later than the request was made, so virtual time needs no sleep.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..brokers.base import (
    BrokerOrder,
    BrokerPosition,
    ChainRow,
    MarginCheck,
    MarginLeg,
    OptionChain,
    OrderInstruction,
)
from ..brokers.errors import InputException, OrderException
from ..instruments import UnderlyingConfig, default_instrument_master
from ..request import OrderType, Side
from ..timeutil import IST
from ..volume_curve import VolumeCurve
from .chain import Chain, Instrument, build_chain
from .config import FaultKind, PaperConfig
from .faults import FaultInjector, RequestPlan, fault_error
from .market import Market, OptionBook, PaperQuote
from .matching import Matcher
from .orders import BUY, KiteStatus, SimOrder
from .paths import MarketSeries
from .positions import NetPosition, PositionLedger
from .pricing import FloatArray
from .rules import (
    MARKETS_CLOSED,
    Account,
    Throttle,
    check_price_band,
    lpp_band,
    validate_order,
)
from .session import MarketTimeline, close_epoch


class _Event(IntEnum):
    ARRIVE = 0
    CANCEL = 1


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one of our orders."""

    trade_id: str
    order_id: str
    tag: str
    tradingsymbol: str
    exchange: str
    side: str
    quantity: int
    price: float
    epoch: float


def volume_shares(profile: str) -> FloatArray:
    """A packaged intraday U-shaped profile: 25 fifteen-minute shares of the NSE day."""
    return np.asarray(VolumeCurve.load(profile).bin_shares, dtype=np.float64)


class PaperExchange:
    """A simulated NSE/BSE index-options exchange and broker account. Not thread-safe.

    ``series``: options whose market is given rather than generated from the seed, by
    (exchange, tradingsymbol) (a replay's: :mod:`imperium_exec.whatif.paper`).
    """

    def __init__(self, cfg: PaperConfig, start_epoch: float, *, chain: Chain | None = None,
                 underlyings: dict[str, UnderlyingConfig] | None = None,
                 shares_override: FloatArray | None = None,
                 series: Mapping[tuple[str, str], MarketSeries] | None = None) -> None:
        self.cfg = cfg
        self.timeline = MarketTimeline(cfg.session.hours, start_epoch)
        self.session_date: dt.date = dt.datetime.fromtimestamp(start_epoch, IST).date()
        configs = underlyings if underlyings is not None else \
            default_instrument_master().underlyings
        # Contracts expiring within the hour are not listed: a desk started late on an expiry
        # day trades the next expiry.
        first_expiry = self.session_date + dt.timedelta(
            days=0 if start_epoch < close_epoch(self.session_date) - 3600.0 else 1)
        self.chain = chain if chain is not None else \
            build_chain(cfg.market.underlyings, configs, self.session_date, first_expiry)
        shares = volume_shares(cfg.market.volume_profile) if shares_override is None \
            else shares_override
        self.market = Market(cfg, self.chain, self.timeline, shares, series)
        self.matcher = Matcher(cfg.rules, self._on_fill)
        self.throttle = Throttle(cfg.rules)
        self.account = Account(cfg.account, self._spot_now)
        #: The account's net positions per instrument and product, as a broker reports them.
        self.ledger = PositionLedger()
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.trades: list[Trade] = []
        self._orders: dict[str, SimOrder] = {}
        self._events: list[tuple[float, int, _Event, str]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._id_base = int(self.session_date.strftime("%y%m%d")) * 10**9
        self._trade_ids = itertools.count(1)
        self._now = start_epoch

    # ---------------------------------------------------------------- time

    def advance(self, epoch: float) -> float:
        """Bring the exchange forward to ``epoch`` (never backwards); returns the time used."""
        epoch = max(epoch, self._now)
        while True:
            close = self.timeline.next_close(self._now)
            until = min(epoch, close)
            while self._events and self._events[0][0] <= until:
                at, _, kind, order_id = heapq.heappop(self._events)
                self._handle(kind, self._orders[order_id], at)
            self.market.advance(self.timeline.market_seconds(until), self.matcher.step)
            self._now = until
            if until == close:
                self._expire_day_orders(close)
            if until == epoch:
                return epoch

    def _expire_day_orders(self, close: float) -> None:
        """At the close, the exchange cancels every order still open or pending (DAY validity)."""
        m = self.timeline.market_seconds(close)
        for o in self._orders.values():
            if o.status.is_terminal:
                continue
            self.matcher.cancel(o, self.market.book(o.inst, m, self.matcher.step))
            o.status_message = "Order cancelled by the exchange at the end of the session."
            o.exchange_epoch = close
            self.account.release(o.order_id)

    def _schedule(self, at: float, kind: _Event, order_id: str) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, order_id))

    def _handle(self, kind: _Event, o: SimOrder, at: float) -> None:
        if o.status.is_terminal:
            return
        m = self.timeline.market_seconds(at)
        k = self.market.step_of(m)
        book = self.market.book(o.inst, m, self.matcher.step)
        if kind is _Event.ARRIVE:
            o.exchange_epoch = at
            if o.cancel_epoch is not None and o.cancel_epoch <= at:
                o.status = KiteStatus.CANCELLED
            else:
                self.matcher.arrive(o, book, k, m)
        elif o.status is KiteStatus.OPEN:
            self.matcher.cancel(o, book)
            o.exchange_epoch = at
        if o.status.is_terminal:
            self.account.release(o.order_id)

    def _on_fill(self, o: SimOrder, price: float, qty: int, m: float) -> None:
        epoch = max(self.timeline.epoch_at(m), o.arrive_epoch)
        o.exchange_epoch = epoch
        self.account.on_fill(o.inst, o.order.side, qty, price)
        self.ledger.fill(o.inst.tradingsymbol, o.inst.exchange, o.order.product,
                         o.order.side.sign, qty, price)
        if o.order.side.sign > 0:
            self.account.block(o.order_id, o.remaining * price)
        else:  # the filled units' margin is now the position's: hold only the rest's share
            held = self.account.blocked(o.order_id)
            self.account.block(o.order_id, held * o.remaining / (o.remaining + qty))
        self.trades.append(Trade(
            trade_id=str(self._id_base + next(self._trade_ids)), order_id=o.order_id,
            tag=o.order.tag, tradingsymbol=o.inst.tradingsymbol, exchange=o.inst.exchange,
            side=o.order.side.value, quantity=qty, price=price, epoch=epoch,
        ))

    # ---------------------------------------------------------------- requests

    def instrument(self, tradingsymbol: str, exchange: str | None = None) -> Instrument | None:
        return self.chain.get(tradingsymbol, exchange)

    def place(self, order: OrderInstruction, epoch: float, plan: RequestPlan) -> str:
        """Accept one order request at ``epoch`` or raise as Kite would."""
        epoch = self.advance(epoch)
        if plan.fault is FaultKind.TIMEOUT_BEFORE_SEND:
            raise fault_error(plan.fault)
        self.throttle.admit(epoch)
        if plan.fault in (FaultKind.SERVER_ERROR, FaultKind.GATEWAY_ERROR):
            raise fault_error(plan.fault)
        if not self.timeline.is_open(epoch):
            raise InputException(MARKETS_CLOSED)
        inst = self.chain.get(order.tradingsymbol, order.exchange)
        if inst is None or not inst.is_option:
            raise InputException(f"Invalid instrument: {order.exchange}:{order.tradingsymbol} "
                                 "is not an option listed on the paper exchange.")
        validate_order(order, inst, self.cfg.rules)
        m = self.timeline.market_seconds(epoch)
        k = self.market.step_of(m)
        book = self.market.book(inst, m, self.matcher.step)
        check_price_band(order, lpp_band(book.ltp, self.cfg.rules, book.tick))
        required = self._margin_required(order, inst, book, k, m)
        message = self.account.check(required)
        rejection = None
        if message is not None:
            if self.cfg.account.margin_rejection == "sync":
                raise self.account.refuse_sync(message)
            rejection = (message, self.account.rms_raw(required, self.account.available))

        order_id = str(self._id_base + next(self._ids))
        arrive = visible = epoch
        arrive += plan.latency_s
        status = KiteStatus.PUT_ORDER_REQ_RECEIVED
        if plan.fault is FaultKind.DELAYED_ORDER:
            arrive = visible = arrive + self.cfg.faults.delayed_order_s
        elif plan.fault is FaultKind.STUCK_PENDING:
            arrive += self.cfg.faults.stuck_pending_s
            status = KiteStatus.OPEN_PENDING
        o = SimOrder(order_id=order_id, order=order, inst=inst, seq=next(self._seq),
                     placed_epoch=epoch, visible_epoch=visible, arrive_epoch=arrive,
                     status=status, rejection=rejection)
        self._orders[order_id] = o
        if rejection is None:
            self.account.block(order_id, required)
        self._schedule(arrive, _Event.ARRIVE, order_id)
        self.advance(epoch)
        if plan.fault in (FaultKind.GHOST, FaultKind.DELAYED_ORDER):
            raise fault_error(plan.fault)
        return order_id

    def cancel(self, order_id: str, epoch: float, latency_s: float = 0.0) -> None:
        """Request a cancel; it takes effect ``latency_s`` later (or when the order arrives)."""
        epoch = self.advance(epoch)
        self.throttle.admit(epoch)
        o = self._orders.get(order_id)
        if o is None or o.visible_epoch > epoch:
            raise InputException(f"Couldn't find that `order_id` ({order_id}).")
        if o.status.is_terminal:
            raise OrderException(f"Order {order_id} cannot be cancelled as it is already "
                                 f"{o.status.value.lower()}.", code=400)
        at = epoch + latency_s
        if o.cancel_epoch is None or at < o.cancel_epoch:
            o.cancel_epoch = at
        self._schedule(at, _Event.CANCEL, order_id)
        self.advance(epoch)

    def orders(self, epoch: float) -> list[BrokerOrder]:
        epoch = self.advance(epoch)
        return [o.snapshot() for o in self._orders.values() if o.visible_epoch <= epoch]

    def positions(self, epoch: float) -> list[BrokerPosition]:
        """The account's net positions (Kite's ``net`` list): per instrument and product the
        net units, their average price, the last price and the P&L at it."""
        epoch = self.advance(epoch)

        def last_price(held: NetPosition) -> float | None:
            quote = self.quote(held.tradingsymbol, held.exchange, epoch)
            return quote.ltp if quote is not None else None

        return self.ledger.report(last_price)

    def sim_orders(self) -> list[SimOrder]:
        """Every order the exchange holds, visible or not (for tests and diagnostics)."""
        return list(self._orders.values())

    def quote(self, tradingsymbol: str, exchange: str | None, epoch: float) -> PaperQuote | None:
        inst = self.chain.get(tradingsymbol, exchange)
        if inst is None:
            return None
        epoch = self.advance(epoch)
        m = self.timeline.market_seconds(epoch)
        if not inst.is_option:
            return self.market.index_quote(inst, m, epoch)
        return self.market.quote(inst, m, epoch, self.matcher.step)

    def option_chain(self, underlying: str, expiry: dt.date | None, strikes_each_side: int,
                     epoch: float) -> OptionChain:
        """Quotes of the strikes nearest the money for one expiry (the nearest by default)."""
        expiries = self.chain.expiries(underlying)
        if not expiries:
            raise InputException(f"No options listed for {underlying!r}.")
        chosen = expiry if expiry is not None else expiries[0]
        if chosen not in expiries:
            raise InputException(f"No {underlying} options expire on {chosen.isoformat()}.")
        spot = self.spot(underlying, epoch)
        calls = {i.strike: i for i in self.chain.options(underlying, chosen) if i.is_call}
        puts = {i.strike: i for i in self.chain.options(underlying, chosen) if not i.is_call}
        strikes = sorted(set(calls) & set(puts))
        atm = min(strikes, key=lambda s: abs(s - spot))
        centre = strikes.index(atm)
        lo, hi = max(0, centre - strikes_each_side), centre + strikes_each_side + 1
        rows = []
        for strike in strikes[lo:hi]:
            call = self.quote(calls[strike].tradingsymbol, calls[strike].exchange, epoch)
            put = self.quote(puts[strike].tradingsymbol, puts[strike].exchange, epoch)
            assert call is not None and put is not None
            rows.append(ChainRow(strike=strike, call=call, put=put))
        listed = tuple(u for u in self.chain.underlyings() if self.chain.expiries(u))
        return OptionChain(underlying=underlying, expiry=chosen, spot=round(spot, 2),
                           atm_strike=atm, rows=tuple(rows), lot_size=calls[atm].lot_size,
                           taken_at=epoch, expiries=tuple(expiries), underlyings=listed)

    def fair_price(self, inst: Instrument, epoch: float) -> float:
        """The option's true fair price now: Black-76 plus our impact (for benchmarks)."""
        epoch = self.advance(epoch)
        m = self.timeline.market_seconds(epoch)
        book = self.market.book(inst, m, self.matcher.step)
        return book.fair(self.market.step_of(m), m)

    def basket_margin(self, legs: list[MarginLeg], epoch: float) -> MarginCheck:
        """What ``legs`` would add to the account's margin once all of them filled, with the
        hedge benefit and the positions held (Kite's basket margins with
        ``consider_positions``), against the margin available now. Buys are priced at their
        limit or the ask, sells at theirs or the bid."""
        epoch = self.advance(epoch)
        m = self.timeline.market_seconds(epoch)
        k = self.market.step_of(m)
        priced: list[tuple[Instrument, Side, int, float]] = []
        for leg in legs:
            inst = self.chain.get(leg.tradingsymbol, leg.exchange)
            if inst is None or not inst.is_option:
                raise InputException(f"Invalid instrument: {leg.exchange}:{leg.tradingsymbol} "
                                     "is not an option listed on the paper exchange.")
            if leg.quantity <= 0:
                raise InputException(f"Invalid `quantity` {leg.quantity}: must be positive.")
            book = self.market.book(inst, m, self.matcher.step)
            price = self._order_price(leg.side, leg.order_type, leg.price, book, k, m)
            priced.append((inst, leg.side, leg.quantity, price))
        basket = self.account.basket(priced)
        return MarginCheck(required=basket.required, available=self.account.available,
                           required_without_hedge=basket.without_hedge)

    def spot(self, underlying: str, epoch: float) -> float:
        epoch = self.advance(epoch)
        return self.market.spot(underlying, self.timeline.market_seconds(epoch))

    # ---------------------------------------------------------------- helpers

    def _margin_required(self, order: OrderInstruction, inst: Instrument, book: OptionBook,
                         k: int, m: float) -> float:
        price = self._order_price(order.side, order.order_type, order.limit_price, book, k, m)
        return self.account.required(inst, order.side, order.quantity, price)

    @staticmethod
    def _order_price(side: Side, order_type: OrderType, limit_price: float | None,
                     book: OptionBook, k: int, m: float) -> float:
        """What an order is margined at: its limit, or the touch it would take."""
        if order_type is OrderType.LIMIT and limit_price is not None:
            return limit_price
        touch = book.touch(k, m)
        return book.price(touch.ask_t if side.sign == BUY else max(touch.bid_t, 1))

    def _spot_now(self, underlying: str) -> float:
        return self.market.spot(underlying, self.timeline.market_seconds(self._now))
