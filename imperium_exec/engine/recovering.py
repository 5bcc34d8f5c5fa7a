"""Orphans after a crash or a lost session: found, written truthfully, held until the trader
decides.

:meth:`OrphanKeeper.recover` takes the journal's unfinished parents of the day
(:mod:`imperium_exec.recovery.journal`) and one read of the broker's order book. Each orphan is
re-made as a *held* parent of the engine: its orders found by tag are followed like any child's
(what filled while the desk was down is written once, as their fill rows, against what the journal
already had), and it sends nothing. It then waits for the trader:

- cancel (:meth:`cancel_orphans`, or the engine's cancel / kill switch): its open orders are
  cancelled (sells before buys: a basket's shorts before its hedges) and its finished row is
  written;
- adopt (:meth:`adopt`): its open orders are cancelled and confirmed, its finished row says
  what it was adopted as, and a new parent takes the remaining quantity under the same
  algorithm over what is left of its window (at least ``MIN_ADOPT_WINDOW_S``), or over the
  window the trader gives. Quantities add
  up: what the old one filled plus the new one's quantity is what was asked.

A parent halted by a lost session is held the same way (:meth:`hold`); once the trader logged in
again, :meth:`reconcile` reads the order book for it (what filled while the session was down is
written once) and reports it like a restart's orphan.

A held parent's handle resolves when it finishes; an orphan that filled completely while the
desk was down finishes at once. Shutting the engine down cancels held parents like any other.
Open orders with the desk's tag that no held or working parent owns (an unknown parent's, or a
finished parent's whose cancel was never confirmed) are reported too, and cancelled with the
orphans.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..algos.plan import ExecutionPlan
from ..algos.registry import algorithm_for
from ..brokers.base import Broker, BrokerOrder
from ..clock import Clock
from ..events import ChildStatus, ErrorBucket, EventKind, ParentStatus, Status
from ..recovery.journal import (
    JournalBasket,
    JournalDay,
    JournalLeg,
    JournalOrder,
    JournalParent,
)
from ..recovery.report import Orphan, OrphanOrder, RecoveryReport
from ..request import MIN_SLICE_INTERVAL_S, ExecutionAlgo, ExecutionRequest, Side
from ..retry import RetryPolicy
from .cancelling import ChildCanceller
from .event_factory import EventFactory
from .gateway import BrokerGateway
from .order_tracker import OrderTracker
from .rate_budget import RequestKind
from .state import TAG_LENGTH, ChildState, ExecutionResult, ParentState

log = logging.getLogger(__name__)

#: An adopted parent's window when what was left of the original one is shorter.
MIN_ADOPT_WINDOW_S = 60.0
#: The desk's tags: a ten-character parent id, a three-character child number and a
#: two-character attempt, base 36.
DESK_TAG = re.compile(rf"[0-9A-Z]{{{TAG_LENGTH}}}")

Submit = Callable[[ExecutionRequest, str], concurrent.futures.Future[ExecutionResult]]


@dataclass
class Adoption:
    """The trader adopted a held parent: the new parent's id and its result, once sent."""

    new_parent_id: str
    future: concurrent.futures.Future[ExecutionResult]
    window_s: float | None  # the trader's window for the rest; None: what is left of it


@dataclass
class Held:
    """What the keeper knows of a held parent beyond its state."""

    request_known: bool  # its request as submitted (a restart from an old journal: no)
    filled_at_hold: int  # units filled when it was held (journaled, or when halted)
    basket_id: str | None = None  # a restart's orphan that was a basket's leg
    leg_role: str | None = None


class OrphanKeeper:
    def __init__(self, *, broker: Broker, gateway: BrokerGateway, orders: OrderTracker,
                 canceller: ChildCanceller, events: EventFactory,
                 emit: Callable[..., None], clock: Clock, parents: dict[str, ParentState],
                 finish: Callable[[ParentState], None], submit: Submit,
                 ours: Callable[[str], bool], closed: Callable[[], str | None],
                 retry_policy: RetryPolicy) -> None:
        self.broker = broker
        self.retry_policy = retry_policy
        self.gateway = gateway
        self.orders = orders
        self.canceller = canceller
        self.events = events
        self._emit = emit
        self.clock = clock
        self._parents = parents
        self._finish = finish
        self._submit = submit
        self._ours = ours  # a parent id this engine issued
        self._closed = closed  # why nothing may start now (shut down), or None
        self._held: dict[str, Held] = {}
        self._adoptions: dict[str, Adoption] = {}
        self._known_ids: set[str] = set()  # the day's parents, from the journal
        #: Open orders of parents that already finished, as last reported (cancelled with
        #: the orphans; an unknown parent's are only listed: another desk's, maybe).
        self._strays: list[OrphanOrder] = []
        #: A restart's baskets with no ``basket_finished`` row: written once no leg is held.
        self._open_baskets: dict[str, JournalBasket] = {}

    # ------------------------------------------------------------------ the restart

    async def recover(self, day: JournalDay, journal: str | None) -> RecoveryReport:
        """Match the day's unfinished parents with the broker's order book, hold each as a
        parent of the engine, and report (see the module docstring)."""
        now = self.clock.now()
        try:
            book = await self._read_book()
        except Exception as exc:  # say so: the trader must look in the broker's book
            return RecoveryReport((), (), journal, now, bad_lines=day.bad_lines,
                                  error=f"the broker's order book could not be read "
                                        f"({type(exc).__name__}: {exc})")
        closed = self._closed()
        if closed is not None:  # (shut down while the book was read: hold nothing)
            return RecoveryReport((), (), journal, now, error=f"not held: {closed}")
        self._known_ids |= day.parent_ids
        mine = _desk_orders(book)
        for found in day.unfinished:
            if found.parent_id not in self._parents:
                self._remake(found, [o for tag, o in mine.items()
                                     if tag.startswith(found.parent_id)])
        for basket in day.open_baskets:
            self._open_baskets.setdefault(basket.basket_id, basket)
        for basket_id in list(self._open_baskets):
            self._end_basket_once_no_leg_is_held(basket_id)
        return self._report(book, journal, now, bad_lines=day.bad_lines)

    async def reconcile(self) -> RecoveryReport:
        """After a new login: the held parents' orders as the book shows them now (what
        filled while the session was down is written once), reported."""
        for parent_id in self._held:
            parent = self._parents.get(parent_id)
            for child in parent.children if parent is not None else ():
                if child.status is ChildStatus.WORKING:  # a cancel may be sent again
                    child.cancel_abandoned = child.cancel_requested = False
        now = self.clock.now()
        try:
            await self.orders.refresh()
            book = await self._read_book()
        except Exception as exc:
            return RecoveryReport((), (), None, now, error=f"the broker's order book could "
                                                           f"not be read ({type(exc).__name__}: "
                                                           f"{exc})")
        return self._report(book, None, now, after="login")

    async def _read_book(self) -> list[BrokerOrder]:
        """The broker's order book, read again after a transient failure or a throttle (a
        gateway's 502, a timeout) as the retry policy allows: one blip must not leave a
        restart's orphans unheld. Raises what the last attempt raised."""
        attempts = 0
        while True:
            try:
                return await self.gateway.call(RequestKind.BOOK_READ, self.broker.orders)
            except Exception as exc:
                error = self.retry_policy.classify(exc)
                if error.bucket not in (ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE) \
                        or not self.retry_policy.allows_retry(error, attempts):
                    raise
                log.warning("order book read failed (%r): reading it again", exc)
                await asyncio.sleep(self.retry_policy.backoff_s(error.bucket, attempts))
                attempts += 1

    def _report(self, book: list[BrokerOrder], journal: str | None, now: float, *,
                bad_lines: int = 0, after: Literal["restart", "login"] = "restart",
                ) -> RecoveryReport:
        mine = _desk_orders(book)
        orphans = []
        for parent_id, held in self._held.items():
            parent = self._parents.get(parent_id)
            if parent is None:
                continue
            open_orders = tuple(OrphanOrder.of(o) for tag, o in mine.items()
                                if tag.startswith(parent_id) and not o.status.is_terminal)
            orphans.append(Orphan(
                parent_id, parent.request.tradingsymbol, parent.request.exchange,
                parent.request.side, parent.quantity, parent.filled, open_orders,
                parent.filled - held.filled_at_hold, str(parent.request.execution_algo),
                held.basket_id, held.leg_role, _not_adoptable(held, parent)))
        loose = [OrphanOrder.of(o) for tag, o in mine.items()
                 if not o.status.is_terminal and tag[:10] not in self._parents]
        unknown = tuple(o for o in loose if not self._owns(o))
        self._strays = [o for o in loose if self._owns(o)]
        return RecoveryReport(tuple(orphans), unknown, journal, now, bad_lines=bad_lines,
                              stray_orders=tuple(self._strays), after=after)

    def _owns(self, order: OrphanOrder) -> bool:
        """The order's parent is one of the day's journal or of this engine."""
        parent_id = (order.tag or "")[:10]
        return parent_id in self._known_ids or self._ours(parent_id)

    def _remake(self, found: JournalParent, orders: list[BrokerOrder]) -> None:
        parent = _remade(found, self.clock.now())
        self._parents[found.parent_id] = parent
        self._held[found.parent_id] = Held(found.request is not None, parent.filled,
                                           found.basket_id, found.leg_role)
        for order in orders:
            seen = found.orders.get(order.tag or "")
            if seen is not None and seen.ended and order.status.is_terminal:
                continue  # the journal saw it end: nothing more to say
            child = _child_of(order, seen.filled if seen else 0,
                              seen.filled_value if seen else 0.0, found.first_ts)
            parent.children.append(child)
            self.orders.track(parent, child, seen=order)  # its fills since, written once
        in_book = {o.tag for o in orders}
        for tag, seen in found.orders.items():
            if seen.ended or tag in in_book:
                continue
            if seen.order_id is None:  # an attempt of unknown outcome: its order may turn up
                child = ChildState(seen.child_index - 1, 0, 0, found.first_ts,
                                   seen.attempt or 1, tag, None, ChildStatus.UNKNOWN)
                parent.children.append(child)
                self.orders.watch_late(parent, child, tag)
                # Its one terminal row, as a parent ending with such an attempt writes it
                # (an order that turns up later is reported in ghost rows), unless another
                # attempt of the child has an order (its rows end the child) or comes later.
                if _other_attempt_ends(found, seen):
                    continue
                self._emit(self.events.child_event(
                    parent, child, EventKind.ERROR, Status.UNKNOWN,
                    error_bucket=ErrorBucket.TRANSIENT,
                    error=f"outcome unknown: attempt {tag} may have reached the broker",
                    message=f"the desk stopped before the attempt's outcome was known: tag "
                            f"{tag} is watched and any order it placed is cancelled or "
                            "reported"))
                continue
            child = ChildState(seen.child_index - 1, 0, 0, found.first_ts, seen.attempt or 1,
                               tag, seen.order_id, ChildStatus.UNKNOWN, seen.filled,
                               seen.filled_value)
            parent.children.append(child)
            self._emit(self.events.child_event(
                parent, child, EventKind.ERROR, Status.UNKNOWN,
                error_bucket=ErrorBucket.TRANSIENT,
                error=f"order {seen.order_id} is not in the broker's order book at the restart",
                message="never reached the exchange, or the book is another day's or "
                        "account's (a paper exchange does not outlive its process)"))
        parent.task = asyncio.get_running_loop().create_task(self.hold(parent),
                                                             name=f"held-{parent.parent_id}")

    async def hold(self, parent: ParentState) -> None:
        """Hold ``parent`` (a restart's orphan, or halted by a lost session): nothing is sent
        until the trader cancels or adopts it (or it fills); then end it."""
        self._held.setdefault(parent.parent_id, Held(True, parent.filled))
        try:  # (a rejection while held is a note, not an end: the trader still decides)
            while not parent.cancel_requested and parent.parent_id not in self._adoptions \
                    and parent.filled < parent.quantity:
                await parent.wait_changed(None)
            await self.canceller.cancel_working(parent)
        except Exception as exc:  # never leave a held parent without its final row
            log.exception("held parent %s", parent.parent_id)
            parent.failure = f"internal error: {exc!r}"
        finally:
            adoption = self._adoptions.pop(parent.parent_id, None)
            held = self._held.pop(parent.parent_id, None)
            if adoption is not None:
                self._adopt_rest(parent, adoption)
            else:
                self._finish(parent)
            if held is not None and held.basket_id is not None:
                self._leg_ended(held.basket_id, parent)

    # ------------------------------------------------------------------ a restart's baskets

    def _leg_ended(self, basket_id: str, parent: ParentState) -> None:
        basket = self._open_baskets.get(basket_id)
        if basket is None:
            return
        leg = basket.legs.get(parent.parent_id)
        if leg is not None:
            leg.filled, leg.finished = parent.filled, True
            result = parent.future.result() if parent.future.done() else None
            if result is not None and result.message and (
                    "may still be live" in result.message or "adopted as" in result.message):
                leg.note = f"ended {result.status.value}: {result.message}"
        self._end_basket_once_no_leg_is_held(basket_id)

    def _end_basket_once_no_leg_is_held(self, basket_id: str) -> None:
        """A restart's basket gets its one ``basket_finished`` row once none of its legs is
        held: what its legs filled, each leg's line (an adopted leg's rest goes on as a
        parent of its own, outside the basket)."""
        if any(h.basket_id == basket_id for h in self._held.values()):
            return
        basket = self._open_baskets.pop(basket_id, None)
        if basket is None:
            return
        filled = basket.filled
        legs = basket.legs.values()
        # Filled only when every leg is, and every leg is journaled: one leg's overfill (a
        # late order) never hides another's shortfall (as on the normal path).
        every_leg = bool(legs) and all(leg.filled >= leg.quantity for leg in legs) \
            and sum(leg.quantity for leg in legs) >= basket.quantity
        if every_leg:
            status = ParentStatus.FILLED
        else:
            status = ParentStatus.PARTIAL if filled else ParentStatus.CANCELLED
        lines = [_leg_line(leg) for leg in legs]
        started = len(basket.legs)
        live = any(leg.note and "may still be live" in leg.note for leg in legs)
        how = "a held leg ended with an order that may still be live (see its line)" if live \
            else "its held legs were cancelled or adopted"
        self._emit(self.events.basket_event(
            basket_id, EventKind.BASKET_FINISHED, Status(status), quantity=basket.quantity,
            filled=filled,
            message="\n".join([f"ended after a restart: the desk stopped while the basket "
                                f"worked ({started} leg{'s' * (started != 1)} journaled); "
                                f"{how}", *lines])))

    # ------------------------------------------------------------------ the trader's choices

    async def cancel_orphans(self) -> list[ExecutionResult]:
        """Cancel every held parent and the open orders of parents already finished (an
        unknown parent's are left alone: listed, never cancelled here): sells first, then
        buys; the held parents' results."""
        results: list[ExecutionResult] = []
        for side in (Side.SELL, Side.BUY):
            held = [self._parents[p] for p in self._held
                    if p in self._parents and self._parents[p].request.side is side]
            for parent in held:
                parent.cancel_requested = True
                parent.permit.revoke("cancelled by the trader")
                parent.notify()
            strays = [o for o in self._strays if o.side is side]
            await asyncio.gather(*(self._cancel_stray(o) for o in strays))
            results += await asyncio.gather(*(asyncio.wrap_future(p.future) for p in held))
        self._strays = []
        return results

    async def _cancel_stray(self, order: OrphanOrder) -> None:
        try:
            await self.gateway.call(RequestKind.CANCEL, self.broker.cancel_order,
                                    order.order_id)
        except Exception as exc:  # (filled or cancelled meanwhile, say): logged, not raised
            log.warning("cancel of open order %s (tag %s) failed: %r", order.order_id,
                        order.tag, exc)

    def adopt(self, parent_id: str, new_parent_id: str,
              future: concurrent.futures.Future[ExecutionResult],
              window_s: float | None = None) -> None:
        """Adopt a held parent (loop thread): see the module docstring. ``future`` gets the
        new parent's result, or the reason it could not be adopted."""
        parent = self._parents.get(parent_id)
        held = self._held.get(parent_id)
        if parent is None or held is None:
            reason: str | None = f"{parent_id} is not a held parent (a restart's or a lost " \
                                 "session's)"
        else:
            reason = _not_adoptable(held, parent)
        if reason is None and parent_id in self._adoptions:
            reason = f"{parent_id} is already being adopted as " \
                     f"{self._adoptions[parent_id].new_parent_id}"
        if reason is None and parent is not None and self.orders.late_units(parent) > 0:
            reason = (f"{parent_id} has an attempt whose order may still turn up (its tag is "
                      "watched): adopt it once that is settled, or cancel it")
        if reason is not None or parent is None or parent.cancel_requested:
            future.set_exception(ValueError(reason or f"{parent_id} is being cancelled"))
            return
        self._adoptions[parent_id] = Adoption(new_parent_id, future, window_s)
        parent.notify()

    def _adopt_rest(self, parent: ParentState, adoption: Adoption) -> None:
        """The held parent's orders are cancelled: send the rest as a new parent, then end
        the old one saying so (or, when the rest cannot go, why not)."""
        still_open = [c.order_id for c in parent.children if c.status is ChildStatus.WORKING]
        rest = parent.quantity - parent.filled
        why: str | None = None
        if parent.cancel_requested:
            why = "cancelled by the trader while the adoption waited"
        elif still_open:
            why = f"the cancel of {', '.join(map(str, still_open))} was not confirmed"
        elif self.orders.late_units(parent) > 0:
            why = "an attempt's order may still turn up (its tag is watched)"
        elif rest <= 0:
            why = "nothing is left to send"
        sent: concurrent.futures.Future[ExecutionResult] | None = None
        if why is None:
            try:
                window = adoption.window_s if adoption.window_s is not None \
                    else self._window_left(parent)
                sent = self._submit(_rest_of(parent.request, rest, window),
                                    adoption.new_parent_id)
            except Exception as exc:  # a limit, a plan that cannot be made, a lost session
                why = f"{type(exc).__name__}: {exc}"
        parent.cancel_requested = True
        if sent is None:
            parent.note = f"not adopted: {why}"
            self._finish(parent)
            adoption.future.set_exception(ValueError(f"{parent.parent_id} not adopted: {why}"))
            return
        parent.note = (f"adopted as {adoption.new_parent_id}: its remaining {rest:,} units "
                       "continue there")
        self._finish(parent)
        sent.add_done_callback(lambda done: _pass_on(done, adoption.future))

    def _window_left(self, parent: ParentState) -> float:
        return max(MIN_ADOPT_WINDOW_S, parent.end_at - self.clock.now())


def _leg_line(leg: JournalLeg) -> str:
    """A restart's basket row, one leg: filled, left, and how it ended when that matters."""
    line = (f"{leg.side.value} {leg.tradingsymbol}: filled {leg.filled} of {leg.quantity}, "
            f"{max(0, leg.quantity - leg.filled)} left")
    if leg.filled > leg.quantity:
        line += f" (overfilled by {leg.filled - leg.quantity})"
    if leg.note:
        line += f" ({leg.note})"
    return line


def _other_attempt_ends(found: JournalParent, seen: JournalOrder) -> bool:
    """Whether another attempt of ``seen``'s child has an order, or is a later attempt (its
    rows, or the restart's, end the child)."""
    return any(o is not seen and o.child_index == seen.child_index
               and (o.order_id is not None or o.ended or (o.attempt or 1) > (seen.attempt or 1))
               for o in found.orders.values())


def _remade(found: JournalParent, now: float) -> ParentState:
    """The orphan as a held parent: its request (as submitted, else as its rows tell), what
    the journal says it filled, no children yet."""
    request = found.request or ExecutionRequest.model_construct(
        tradingsymbol=found.tradingsymbol, exchange=found.exchange, side=found.side,
        quantity=found.quantity, lot_size=1, tick_size=0.05, freeze_quantity=found.quantity,
        execution_algo=found.execution_algo or ExecutionAlgo.IMMEDIATE)
    end = found.window_end
    plan = ExecutionPlan(algo=request.execution_algo, children=(), start_at=found.first_ts,
                         end_at=end if end is not None else now, participation_rate=0.0,
                         dynamic_sizing=False, expected_market_volume=None, warnings=())
    parent = ParentState(parent_id=found.parent_id, request=request, plan=plan,
                         arrival_price=found.arrival_price,
                         future=concurrent.futures.Future(), recovered=True)
    parent.filled, parent.filled_value = found.filled, found.filled_value
    parent.child_numbers = found.children
    return parent


def _child_of(order: BrokerOrder, filled: int, filled_value: float,
              since: float) -> ChildState:
    """A child following ``order``, from what the journal had filled on it (tags carry the
    child's 0-based index; rows show it from 1)."""
    assert order.tag is not None
    return ChildState(index=int(order.tag[10:13], 36), slice_index=0,
                      quantity=order.quantity, send_at=since, attempt=int(order.tag[13:], 36),
                      tag=order.tag, order_id=order.order_id, status=ChildStatus.WORKING,
                      filled=filled, filled_value=filled_value)


def _desk_orders(book: list[BrokerOrder]) -> dict[str, BrokerOrder]:
    """The orders carrying the desk's tags, by tag."""
    return {o.tag: o for o in book if o.tag and DESK_TAG.fullmatch(o.tag)}


def _not_adoptable(held: Held, parent: ParentState) -> str | None:
    if not held.request_known:
        return "its request is not in the journal (written before schema 5): cancel it"
    if parent.quantity - parent.filled <= 0:
        return "nothing is left to send"
    return None


def _rest_of(request: ExecutionRequest, rest: int, window_s: float) -> ExecutionRequest:
    """``request`` for ``rest`` units over ``window_s`` seconds (a scheduled algorithm's)."""
    # The ticket's bid, ask and last price are the morning's: the rest is priced afresh (by
    # the limits from the quote the engine holds, by its first child from a new one).
    changes: dict[str, object] = {"quantity": rest, "start_at": None, "end_at": None,
                                  "seed": None, "bid": None, "ask": None, "ltp": None}
    if algorithm_for(request.execution_algo).scheduled:
        lots = max(1, rest // request.lot_size)
        fit = max(1, math.floor(window_s / MIN_SLICE_INTERVAL_S))
        changes |= {"horizon_s": min(window_s, 7 * 3600.0),
                    "max_child_orders": min(request.max_child_orders, lots, fit)}
    else:
        changes |= {"horizon_s": None}
    return ExecutionRequest.model_validate(request.model_dump() | changes)


def _pass_on(done: concurrent.futures.Future[ExecutionResult],
             to: concurrent.futures.Future[ExecutionResult]) -> None:
    if to.done():
        return
    error = done.exception()
    if error is not None:
        to.set_exception(error)
    else:
        to.set_result(done.result())
