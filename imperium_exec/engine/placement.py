"""Placer: one child from a price to a broker order id, safely.

The order of things is what makes it safe under Kite's limits:

1. **A fresh price.** The child waits for a quote no older than the service's ``max_age_s``
   (``quote_wait_s`` at most); without one it is not sent, and its row says why. The one
   exception is an IMMEDIATE MARKET child at high urgency: it needs no price, so it does not
   wait (its estimate uses the latest quote if fresh, else the ticket's bid/ask, and the row
   says which).
2. **A budget slot** for a placement (behind cancels, ahead of reads and quotes), awaited on
   the loop. The price is checked again once the slot is granted: if the quote went stale
   while the child queued, the slot is handed back and the child re-prices, keeping its place
   in line.
3. **The last-moment brake**: the parent's permit is checked in the worker thread right before
   the HTTP call, so a kill switch stops everything still queued.
4. **Ambiguous failures** (timeout after sending, 5xx, Kite's "timed out") are reconciled by
   the attempt's tag (stream updates and shared book reads) before anything is re-sent: a
   ``reconciling`` row says the wait has begun, the child's next row ends it; a re-sent
   attempt's tag stays watched for a late order.

:meth:`Placer.modify` re-prices a resting child in place where the broker offers modify
(``BrokerCapabilities.modify_order``): one write of the budget (:attr:`RequestKind.MODIFY`,
not an order of the day) instead of a cancel and a placement, the same order id, tag and
attempt, a ``modified`` row. It sends nothing when neither the price nor the quantity changes,
and declines (the caller then cancels and places) a price outside the exchange's band
(:func:`~imperium_exec.instruments.price_band` around the last price), a MARKET re-price without
market protection, a quantity the freeze or the fills rule out, and a child whose order has had
``max_modifications - modify_headroom`` modifications (Kite refuses the 26th). The new quantity
is the order's total as of the slice's sizing, so a fill that races the modification is part of
it, never on top of it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..algos.registry import algorithm_for
from ..brokers.base import Broker, BrokerOrder, ModifyInstruction, OrderInstruction, Quote
from ..brokers.errors import ErrorClass
from ..clock import Clock
from ..costs.slippage import SlippageModel
from ..events import (
    ChildStatus,
    ErrorBucket,
    Event,
    EventKind,
    Status,
)
from ..events.ids import child_tag
from ..instruments import price_band
from ..request import OrderType, Side, Urgency
from ..retry import RetryPolicy
from ..router import RouteDecision, SmartOrderRouter
from .desk_fills import DeskFills
from .estimate import ChildEstimator, put_back_pricing
from .event_factory import EventFactory
from .gateway import BrokerGateway, NotSent
from .market_data import MarketDataService, MarketQuote, instrument_key
from .order_tracker import OrderTracker
from .rate_budget import OrderLimitReached, RequestKind
from .state import ChildState, ParentState

Emit = Callable[[Event], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlacementConfig:
    #: How long a child waits for a fresh quote before it is given up (not sent).
    quote_wait_s: float = 10.0
    #: Re-price resting children in place where the broker offers modify (False: always by
    #: cancel and a new order, as before).
    modify_resting: bool = True
    #: Modifications of an order's allowance left unused: with Kite's 25, an order is modified
    #: at most 24 times, then the next re-price cancels it and places a new order.
    modify_headroom: int = 1


class Modified(Enum):
    """What :meth:`Placer.modify` did with a resting child."""

    MODIFIED = "modified"  # the broker took the change: the child rests re-priced
    UNCHANGED = "unchanged"  # already at that price and quantity: nothing sent
    UNFIT = "unfit"  # not for a modify (see Placer.modify): nothing sent; cancel and place
    REFUSED = "refused"  # the broker refused it or its outcome is unknown: cancel and place
    NOT_SENT = "not_sent"  # the parent stopped, or the child ended, before it went out


def needs_no_quote(parent: ParentState) -> bool:
    """A MARKET order sent as ticketed (IMMEDIATE) at high urgency goes out without waiting
    for a price."""
    req = parent.request
    return (req.order_type is OrderType.MARKET and req.execution_urgency is Urgency.HIGH
            and algorithm_for(req.execution_algo).sends_as_ticketed)


class Placer:
    def __init__(self, *, broker: Broker, gateway: BrokerGateway, market_data: MarketDataService,
                 tracker: OrderTracker, router: SmartOrderRouter, slippage: SlippageModel,
                 retry_policy: RetryPolicy, events: EventFactory, emit: Emit, clock: Clock,
                 config: PlacementConfig | None = None,
                 desk_fills: DeskFills | None = None) -> None:
        #: Told the parent id of every placement write spent (the admission's reservations).
        self.on_write: Callable[[str], None] | None = None
        self.broker = broker
        self.gateway = gateway
        self.market_data = market_data
        self.tracker = tracker
        self.router = router
        #: Each child's pre-trade estimate (its row's expected cost and what it was made from).
        self.estimator = ChildEstimator(slippage=slippage, market_data=market_data,
                                        broker=broker, clock=clock, desk_fills=desk_fills)
        self.retry_policy = retry_policy
        self.events = events
        self.emit = emit
        self.clock = clock
        self.config = config or PlacementConfig()
        offers = broker.capabilities
        #: The broker's modify, when it offers one and the config lets it be used.
        self.modify_order = offers.modify_order if self.config.modify_resting else None
        limit = offers.max_modifications
        #: Modifications one order may have here (None: no limit).
        self.modification_limit = None if limit is None \
            else max(0, limit - self.config.modify_headroom)

    async def price(self, parent: ParentState, *, wait: bool = False) -> MarketQuote | None:
        """The quote to price ``parent``'s next child from: fresh, or None after waiting (or
        at once when the parent is cancelled meanwhile). A parent that needs no quote gets
        the one held, if fresh, unless told to ``wait``."""
        req = parent.request
        key = instrument_key(req.exchange, req.tradingsymbol)
        if needs_no_quote(parent) and not wait:
            held = self.market_data.latest(key)
            fresh = held is not None and self.market_data.age(held) <= \
                self.market_data.config.max_age_s
            return held if fresh else None
        fetch = asyncio.ensure_future(
            self.market_data.fresh(key, timeout=self.config.quote_wait_s))
        try:
            while not parent.stopping:
                parent.changed.clear()
                woken = asyncio.ensure_future(parent.changed.wait())
                done, _ = await asyncio.wait({fetch, woken},
                                             return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                if fetch in done:
                    return fetch.result()
            return None
        finally:
            if not fetch.done():
                fetch.cancel()

    async def send(self, parent: ParentState, child: ChildState, *, final_slice: bool) -> None:
        """Place ``child``: WORKING with an order id, or a terminal row, or (parent stopped)
        left SCHEDULED for the parent's finish to report."""
        retries = 0
        seq = self.gateway.budget.next_seq()
        while True:
            await parent.hold_while_paused()
            if parent.stopping:
                return
            market = await self.price(parent)
            if parent.stopping:
                return
            if market is None and not needs_no_quote(parent):
                self.give_up(parent, child)
                return
            try:
                outcome, instruction = await self._place(parent, child, market, seq=seq,
                                                         final_slice=final_slice)
            except OrderLimitReached as exc:  # the day's writes are used up: fatal, clearly
                self._fail(parent, child, exc)
                return
            except _Requeue:
                continue
            if outcome is None:
                return
            if isinstance(outcome, str):
                self.mark_placed(parent, child, outcome)
                return
            error_raised: BaseException = outcome
            error = self.retry_policy.classify(error_raised)
            if error.ambiguous:
                assert instruction is not None
                if await self._reconcile(parent, child, instruction, error, error_raised):
                    return
                self.tracker.watch_late(parent, child, instruction.tag)
                child.in_flight = False
                if parent.stopping:
                    return  # outcome unknown: the finish reports it, the tag stays watched
            child.in_flight = False
            if self.retry_policy.allows_retry(error, retries) and not parent.stopping:
                delay = self.retry_policy.backoff_s(error.bucket, retries)
                self.emit(self.events.error_event(
                    parent, child, EventKind.RETRY, Status.RETRY, error, error_raised,
                    f"retrying in {delay:.2f} s"))
                retries += 1
                await parent.sleep(self.clock.now, delay)
                if error.ambiguous and parent.basket is not None and \
                        not await parent.basket.gate.wait_turn(parent, child):
                    return  # the basket stopped while the first attempt may still be live
                continue
            self._fail(parent, child, error_raised, error)
            return

    async def _place(self, parent: ParentState, child: ChildState, market: MarketQuote | None,
                     *, seq: int, final_slice: bool,
                     ) -> tuple[str | BaseException | None, OrderInstruction | None]:
        """One attempt under a placement slot: the order id, or what the broker raised, with
        the instruction sent; (None, None) when nothing was sent (the parent stopped). Raises
        :class:`_Requeue` when the price went stale while queued (the slot is handed back)."""
        req = parent.request
        async with self.gateway.budget.slot(RequestKind.PLACE, seq=seq) as slot:
            if parent.stopping:
                slot.refund()
                return None, None
            limit = self.market_data.config.max_age_s
            if market is not None and not needs_no_quote(parent) \
                    and self.market_data.age(market) > limit:
                refreshed = self.market_data.latest(market.key)
                if refreshed is None or self.market_data.age(refreshed) > limit:
                    slot.refund()  # stale while queued: re-price, keep the place in line
                    raise _Requeue
                market = refreshed
            child.attempt += 1  # the slot's write is spent from here on
            if self.on_write is not None:
                self.on_write(parent.parent_id)
            child.tag = child_tag(parent.parent_id, child.index, child.attempt)
            decision = self.router.decide(req, market.quote if market else None,
                                          final_slice=final_slice,
                                          pay_up_ticks=parent.pay_up_ticks)
            self.estimator.estimate(parent, child, decision, market)
            instruction = OrderInstruction(
                tradingsymbol=req.tradingsymbol, exchange=req.exchange, side=req.side,
                quantity=child.quantity, order_type=decision.order_type,
                limit_price=decision.limit_price, product=req.product,
                validity=req.validity, tag=child.tag,
                market_protection=decision.market_protection, tick_size=req.tick_size)
            started = time.perf_counter()
            # In flight (its outcome unknown) from here until it is placed, refused, found by
            # its tag, or its tag is watched: a cancellation in between leaves it so.
            child.in_flight = True
            outcome: str | BaseException
            try:
                outcome = await self.gateway.run(slot, self.broker.place_order, instruction,
                                                 permit=parent.permit)
            except NotSent:
                child.in_flight = False
                child.attempt -= 1  # nothing left this machine
                child.tag = None
                return None, None
            except Exception as failure:
                outcome = failure
            child.latency_ms = (time.perf_counter() - started) * 1e3
            return outcome, instruction

    # ------------------------------------------------------------------ modifying

    def can_modify(self, parent: ParentState, child: ChildState) -> bool:
        """Whether ``child`` may be re-priced in place at all: the broker offers modify, the
        child rests (an order id, no cancel on its way), a modification is left in its
        order's allowance, and it is not a basket's leg (the basket's gate decides how much of
        a leg is out: its re-prices go through the gate as new orders)."""
        limit = self.modification_limit
        return (self.modify_order is not None and child.status is ChildStatus.WORKING
                and child.order_id is not None and not child.cancel_requested
                and not child.in_flight and parent.basket is None
                and (limit is None or child.modifications < limit))

    def not_modified_because(self, parent: ParentState, child: ChildState) -> str | None:
        """Why a resting ``child`` is re-priced by a new order although the broker offers
        modify (for its cancelled row), or None."""
        limit = self.modification_limit
        if self.modify_order is None or parent.basket is not None or limit is None \
                or child.modifications < limit:
            return None
        cap = self.broker.capabilities.max_modifications
        return (f"its order was modified {child.modifications} times, the most kept below "
                f"the broker's {cap}")

    async def modify(self, parent: ParentState, child: ChildState, quantity: int, *,
                     final_slice: bool) -> Modified:
        """Re-price the resting ``child`` in place at the current price, to ``quantity`` (its
        order's new total, fills included), in one write; see the module docstring for what
        it declines. A ``modified`` row says what changed; a refusal is logged and left to
        the caller (who cancels and places)."""
        seq = self.gateway.budget.next_seq()
        while True:
            await parent.hold_while_paused()
            if parent.stopping:
                return Modified.NOT_SENT
            market = await self.price(parent)
            if parent.stopping:
                return Modified.NOT_SENT
            if market is None or not self.can_modify(parent, child):
                return Modified.UNFIT
            try:
                return await self._modify_once(parent, child, quantity, market, seq=seq,
                                               final_slice=final_slice)
            except _Requeue:
                continue

    def _modify_fits(self, parent: ParentState, child: ChildState, quantity: int,
                     decision: RouteDecision, quote: Quote) -> str | None:
        """Why this change is not for a modify, or None when it is."""
        req = parent.request
        if quantity < child.quantity:
            # A smaller total could be overtaken by fills at the old terms while the change is
            # on its way (or pending, or refused later): cancelled and placed afresh instead.
            return f"{quantity} is less than the order's {child.quantity}"
        if quantity <= child.filled:
            return f"{quantity} is not above the {child.filled} already filled"
        if quantity > req.max_order_quantity:
            return f"{quantity} is above the freeze quantity {req.max_order_quantity}"
        if decision.order_type is OrderType.MARKET:
            return None if decision.market_protection is not None \
                else "a MARKET re-price needs market protection"
        if decision.limit_price is None:
            return "no limit price"
        reference = quote.ltp if quote.ltp is not None else quote.mid
        if reference is not None:
            low, high = price_band(reference, req.tick_size)
            price = decision.limit_price
            if (price > high + 1e-9) if req.side is Side.BUY else (price < low - 1e-9):
                return (f"limit {price:,.2f} is outside the exchange's band "
                        f"{low:,.2f}-{high:,.2f} around {reference:,.2f}")
        return None

    async def _modify_once(self, parent: ParentState, child: ChildState, quantity: int,
                           market: MarketQuote, *, seq: int, final_slice: bool) -> Modified:
        req = parent.request
        modify_order = self.modify_order
        assert modify_order is not None and child.order_id is not None
        async with self.gateway.budget.slot(RequestKind.MODIFY, seq=seq) as slot:
            if parent.stopping or not self.can_modify(parent, child):
                slot.refund()
                return Modified.NOT_SENT if parent.stopping or \
                    child.status is not ChildStatus.WORKING else Modified.UNFIT
            limit = self.market_data.config.max_age_s
            if self.market_data.age(market) > limit:
                refreshed = self.market_data.latest(market.key)
                if refreshed is None or self.market_data.age(refreshed) > limit:
                    slot.refund()  # stale while queued: re-price, keep the place in line
                    raise _Requeue
                market = refreshed
            decision = self.router.decide(req, market.quote, final_slice=final_slice,
                                          pay_up_ticks=parent.pay_up_ticks)
            unfit = self._modify_fits(parent, child, quantity, decision, market.quote)
            if unfit is not None:
                slot.refund()
                log.info("child %s of %s not modified: %s", child.index + 1, parent.parent_id,
                         unfit)
                child.replaced_because = unfit
                return Modified.UNFIT
            old = child.decision
            if old is not None and old.order_type is decision.order_type \
                    and old.limit_price == decision.limit_price and child.quantity == quantity:
                slot.refund()
                return Modified.UNCHANGED
            instruction = ModifyInstruction(
                quantity=quantity, order_type=decision.order_type,
                limit_price=decision.limit_price,
                market_protection=decision.market_protection, tick_size=req.tick_size)
            before = child.quantity
            priced = copy.copy(child)  # its pricing now: put back if the change is refused
            # The order's new total and price from here on: a fill that lands before the
            # reply (the change may fill at once) is counted against it and carries them.
            child.quantity = quantity
            self.estimator.estimate(parent, child, decision, market)
            try:
                await self.gateway.run(slot, modify_order, child.order_id, instruction,
                                       permit=parent.permit)
            except NotSent:
                child.quantity = before
                put_back_pricing(child, priced)
                return Modified.NOT_SENT
            except Exception as exc:
                error = self.retry_policy.classify(exc)
                if error.ambiguous:  # it may have been applied: count it, keep the larger
                    child.modifications += 1
                    child.quantity = max(before, quantity)
                else:
                    child.quantity = before
                    put_back_pricing(child, priced)
                what = "modify's outcome unknown" if error.ambiguous else "modify refused"
                child.replaced_because = f"{what} ({type(exc).__name__}: {exc})"
                log.info("modify of %s refused: %r", child.order_id, exc)
                return Modified.REFUSED
        child.modifications += 1
        old_limit = old.limit_price if old is not None else None
        child.placed_seq = self.market_data.seq
        if decision.order_type is OrderType.MARKET:
            child.placed_at = self.clock.now()  # resting at the protection price from now
        cap = self.broker.capabilities.max_modifications
        changes = []
        if old_limit != decision.limit_price:
            changes.append(f"limit {_price_text(old_limit)} -> "
                           f"{_price_text(decision.limit_price)}")
        if before != quantity:
            changes.append(f"quantity {before} -> {quantity}")
        self.emit(self.events.child_event(
            parent, child, EventKind.MODIFIED, Status.PLACED,
            message=f"order {child.order_id} modified in place: {', '.join(changes)} "
                    f"(modification {child.modifications}"
                    + (f" of {cap}" if cap is not None else "") + ")"))
        parent.notify()
        return Modified.MODIFIED

    def _fail(self, parent: ParentState, child: ChildState, exc: BaseException,
              error: ErrorClass | None = None) -> None:
        """The child cannot be placed: a terminal error row, and the parent fails."""
        error = error or self.retry_policy.classify(exc)
        child.status = ChildStatus.ERROR
        self.emit(self.events.error_event(parent, child, EventKind.ERROR, Status.ERROR, error,
                                          exc, None))
        if parent.halted is None:  # (halted: the lost session refused it; the parent waits)
            parent.failure = parent.failure or \
                f"child {child.index + 1}: {error.bucket} error: {exc}"
        parent.notify()

    def mark_placed(self, parent: ParentState, child: ChildState, order_id: str,
                    seen: BrokerOrder | None = None) -> None:
        """The broker holds ``child``'s order; ``seen`` is its state if we already know it."""
        child.order_id = order_id
        child.status = ChildStatus.WORKING
        child.in_flight = False
        child.placed_at = self.clock.now()
        child.placed_seq = self.market_data.seq
        self.emit(self.events.child_event(parent, child, EventKind.PLACED, Status.PLACED))
        self.tracker.track(parent, child, seen)

    def give_up(self, parent: ParentState, child: ChildState) -> None:
        """No fresh price within the wait: the child is not sent, its quantity goes back."""
        req = parent.request
        key = instrument_key(req.exchange, req.tradingsymbol)
        held = self.market_data.latest(key)
        last = (f"the last one ({held.source}) is {self.market_data.age(held):.1f} s old"
                if held is not None else "none arrived")
        cause = f"; last error: {self.market_data.last_error}" \
            if self.market_data.last_error else ""
        limit = self.market_data.config.max_age_s
        child.status = ChildStatus.CANCELLED
        child.quote_source = held.source if held is not None else None
        child.quote_age_ms = self.market_data.age(held) * 1e3 if held is not None else None
        self.emit(self.events.child_event(
            parent, child, EventKind.CANCELLED, Status.CANCELLED,
            error_bucket=ErrorBucket.TRANSIENT,
            error=f"no quote of {key} younger than {limit:g} s within "
                  f"{self.config.quote_wait_s:g} s: {last}{cause}",
            message=f"not sent (never priced from stale data); {child.quantity} returned "
                    "to the parent"))
        if not algorithm_for(req.execution_algo).scheduled:
            parent.failure = parent.failure or f"no fresh quote of {key}: nothing sent"
        parent.notify()

    async def _reconcile(self, parent: ParentState, child: ChildState,
                         instruction: OrderInstruction, error: ErrorClass,
                         exc: BaseException) -> bool:
        """Look for an ambiguous attempt's tag before anything is re-sent."""
        def matches(order: BrokerOrder) -> bool:
            return (order.tradingsymbol == instruction.tradingsymbol
                    and order.side is instruction.side
                    and order.quantity == instruction.quantity)

        policy = self.retry_policy
        # The wait can last the whole window: the trader sees it start, and its end is the
        # child's next row (reconciled, retry or error, under the same tag).
        self.emit(self.events.error_event(
            parent, child, EventKind.RECONCILING, Status.RECONCILING, error, exc,
            f"checking the order book for tag {instruction.tag} (up to "
            f"{policy.reconcile_window_s:g} s) before re-sending"))
        found = await self.tracker.find_by_tag(
            instruction.tag, matches, window_s=policy.reconcile_window_s,
            interval_s=policy.reconcile_interval_s, stop=lambda: parent.stopping)
        if found is None:
            return False
        self.emit(self.events.error_event(
            parent, child, EventKind.RECONCILED, Status.PLACED, error, exc,
            f"found order {found.order_id} by tag {instruction.tag}; not re-sent"))
        self.mark_placed(parent, child, found.order_id, found)
        return True


def _price_text(price: float | None) -> str:
    return "MARKET" if price is None else f"{price:,.2f}"


class _Requeue(Exception):
    """The child's price went stale while it queued for a slot: price it again."""


__all__ = ["Modified", "PlacementConfig", "Placer", "needs_no_quote"]
