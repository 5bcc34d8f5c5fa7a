"""A basket on the engine's loop: its legs are parents, held to the basket's legging rules.

The engine starts one parent per leg. Before any leg puts out a child, it asks the basket
(:meth:`BasketRun.wait_turn`); the rules (:mod:`.legging`) answer from every leg's filled and
open units, and a held child waits for a fill or a control. Then:

- a leg that ends short of its quantity (a rejection, a failure, a cancel), or a child held
  for ``stall_timeout_s`` with nothing moving in the basket (no order out, filled or ended)
  while it waits on the market (nothing of the basket on its way: queued for the account's
  write budget, in flight, reconciling, or of unknown outcome and still looked for),
  **stops** the basket: the working orders of the sells are cancelled (and confirmed) before
  those of the buys, so a short is never left without its hedge; the report says why (a
  stall names the orders that worked without a fill), per leg what filled, what is left and
  what may still be live;
- the trader's cancel does the same;
- when every leg has ended, the ``basket_finished`` row is written and the handle resolves
  with a :class:`BasketResult` (per-leg results, and the requests that complete or unwind it).

Margin is checked before any leg starts, where the broker offers it (``basket_margin``): a
shortfall refuses the basket in the risk bucket, with required and available margin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..algos.names import ExecutionAlgo
from ..brokers.base import MarginCheck, MarginLeg
from ..clock import Clock
from ..engine.event_factory import EventFactory
from ..engine.gateway import BrokerGateway
from ..engine.rate_budget import RequestKind
from ..engine.state import ChildState, ExecutionResult, ParentState
from ..events import ChildStatus, ErrorBucket, Event, EventKind, ParentStatus, Status
from ..request import ExecutionRequest, OrderType, Side
from .legging import LeggingRules, LegProgress, LegRole
from .request import BasketRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BasketResult:
    """How a basket ended: per-leg results in the basket's order, and what to do next."""

    basket_id: str
    status: ParentStatus  # filled; partial (stopped with fills); cancelled; failed (refused)
    request: BasketRequest
    legs: tuple[ExecutionResult, ...]
    message: str

    @property
    def filled(self) -> tuple[int, ...]:
        return tuple(r.filled_quantity for r in self.legs)

    def completion(self) -> BasketRequest | None:
        """The rest of every leg, as a basket with the same policy (None: nothing left)."""
        legs = [_revalidated(leg, quantity=leg.quantity - result.filled_quantity,
                             start_at=None, end_at=None)
                for leg, result in zip(self.request.legs, self.legs, strict=True)
                if leg.quantity > result.filled_quantity]
        return BasketRequest(legs=tuple(legs), policy=self.request.policy) if legs else None

    def unwind(self) -> BasketRequest | None:
        """Every filled unit traded back at once (immediate, at the market), hedge-first:
        the shorts are bought back before the longs are sold (None: nothing filled)."""
        legs = [_revalidated(leg, side=Side.SELL if leg.side is Side.BUY else Side.BUY,
                             quantity=result.filled_quantity, order_type=OrderType.MARKET,
                             limit_price=None, execution_algo=ExecutionAlgo.IMMEDIATE,
                             max_child_orders=1, horizon_s=None, start_at=None, end_at=None,
                             min_child_quantity=None, max_child_quantity=None)
                for leg, result in zip(self.request.legs, self.legs, strict=True)
                if result.filled_quantity > 0]
        policy = self.request.policy.model_copy(update={"check_margin": False})
        return BasketRequest(legs=tuple(legs), policy=policy) if legs else None


@dataclass
class BasketRun:
    """One basket on the engine's loop (everything here runs on that thread)."""

    basket_id: str
    request: BasketRequest
    rules: LeggingRules
    future: concurrent.futures.Future[BasketResult]
    clock: Clock
    events: EventFactory
    emit: Callable[[Event], None]
    legs: list[ParentState] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str | None = None
    held: dict[int, tuple[float, str]] = field(default_factory=dict)  # leg -> since, kind
    #: leg -> every leg's (filled, out) when its stall clock last started.
    _moved: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    waiting: dict[int, int] = field(default_factory=dict)  # leg -> units of its held child
    #: leg -> since when its hold has seen units of unknown outcome without a break.
    _engine_since: dict[int, float] = field(default_factory=dict)
    stopping_task: asyncio.Task[None] | None = None
    #: Units of a leg's ambiguous attempts still watched for a late order (they may fill),
    #: those looked for in vain for the policy's ``unknown_wait_s`` left out.
    late_units: Callable[[ParentState], int] = lambda parent: 0

    # ------------------------------------------------------------------ the gate (LegGate)

    async def wait_turn(self, parent: ParentState, child: ChildState) -> bool:
        """Hold ``child`` until the rules let it go; False when the basket stopped, or when
        the leg no longer needs it (filled, or on its way, in full without it: a re-send
        whose earlier attempt's order turned up late and filled)."""
        assert parent.basket is not None
        leg = parent.basket.index
        try:
            return await self._wait_turn(parent, child, leg)
        finally:
            self.waiting.pop(leg, None)
            self.changed.set()  # the others see this leg's child out, or no longer waiting

    async def _wait_turn(self, parent: ParentState, child: ChildState, leg: int) -> bool:
        timeout_s = self.request.policy.stall_timeout_s
        child.released = False  # waiting here, it is not out (a retry asks again)
        self.waiting[leg] = child.quantity
        held_s = 0.0  # time held, pauses of this leg left out (resume shifts by those)
        mark = self.clock.now()
        while True:
            if self.stop_reason is not None or parent.stopping:
                return False
            if _surplus(parent, child):
                return False  # its attempt of unknown outcome turned up late and filled
            if parent.paused_at is not None:  # paused at the gate: nothing goes out
                held_s += max(0.0, parent.paused_at - mark)
                await parent.hold_while_paused()
                mark = self.clock.now()
                self.held.pop(leg, None)  # the stall clock starts again
                continue
            progress = self.progress()
            hold = self.rules.hold(leg, child.quantity, progress)
            now = self.clock.now()
            if hold is None:
                child.released = True
                self.held.pop(leg, None)
                # Time held shifts the rest of the leg's schedule, as a pause does: its later
                # slices and its end move with it (a short that trails its hedge is not cut
                # off by its window).
                parent.shift_s += held_s + (now - mark)
                return True
            since, kind = self.held.get(leg, (now, ""))
            if self._any_paused():
                since = now  # a paused leg holds the others: that is no stall
            moved = tuple((p.filled, p.open + p.unknown) for p in progress)
            if moved != self._moved.get(leg):
                # Something moved in the basket (an order went out, filled or ended): the
                # stall clock starts again. A stall is a hold with nothing moving for the
                # timeout, not a long hold.
                self._moved[leg] = moved
                since = now
            # Part of the basket may wait on the engine, not on the market: a child queued for
            # the account's write budget (10 orders a second, 400 a minute, for every leg of
            # every basket: at forty condors a hedge's slice waited 36 s, 20 s of them with the
            # minute's writes used up), being priced, sent or reconciled (each ends by the
            # engine's own deadlines), or an attempt of unknown outcome still looked for
            # (``unknown_wait_s``). The stall clock does not run then; for unknown units, for
            # ``unknown_wait_s`` plus the stall timeout at most: an order book that cannot be
            # read keeps them looked for without end, and the basket must still end.
            on_its_way = self._on_its_way()
            unknown = any(p.unknown > 0 for p in progress)
            if unknown:
                unknown_since = self._engine_since.setdefault(leg, now)
                unknown = now - unknown_since < self.request.policy.unknown_wait_s + timeout_s
            else:
                self._engine_since.pop(leg, None)
            engine_side = on_its_way or unknown or leg in self._engine_since
            if on_its_way or unknown:
                since = now
            since = max(since, self._last_placed())  # an order reached the market
            if kind != hold.kind:  # a new hold: say why, once; the others may send early
                self.emit(self.events.parent_event(parent, EventKind.WARNING,
                                                   message=hold.message))
                self._wake_others(parent)
            self.held[leg] = (since, hold.kind)
            left = since + timeout_s - now
            if left <= 0:
                engine = (" (the engine's side did not clear: an attempt of unknown outcome "
                          "still looked for, or an order on its way; is the order book "
                          "readable?)") if engine_side else ""
                self.stop(f"{parent.request.tradingsymbol} held for {timeout_s:g} s "
                          f"({hold.reason}){engine}; {self._market_text(timeout_s)}")
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def pulls_forward(self, parent: ParentState) -> bool:
        """Whether ``parent`` should send its next slice now rather than at its time, because
        another leg is held waiting for it: for this hedge's fills (beyond what it has out),
        or for this leg, the slowest, with nothing out, to catch up. Waiting for the schedule
        would stall the basket; so the legs move at the pace of the first one due."""
        assert parent.basket is not None
        me = parent.basket.index
        progress = self.progress()
        group = self.rules.legs[me].group
        for leg, (_, kind) in self.held.items():
            if leg == me:
                continue
            if kind == "hedge":
                if self.rules.roles[me] is LegRole.HEDGE and self.rules.legs[leg].group == group \
                        and self.rules.hedge_wanted(group, progress) > 0:
                    return True
            elif progress[me].open == 0 and progress[me].filled / \
                    self.rules.legs[me].quantity <= self.rules.pace(progress) + 1e-9:
                return True
        return False

    def _on_its_way(self) -> bool:
        """Whether any leg has a child on its way to the market (released by the gate and not
        yet placed: queued for a write slot, being priced, in flight, reconciling, or between
        retries)."""
        return any(child.in_flight or (child.released and child.status is ChildStatus.SCHEDULED)
                   for parent in self.legs for child in parent.children)

    def _last_placed(self) -> float:
        """When the basket's latest order reached the market (-inf: none yet)."""
        return max((child.placed_at for parent in self.legs for child in parent.children
                    if child.placed_at is not None), default=float("-inf"))

    def _market_text(self, timeout_s: float) -> str:
        """What the market did meanwhile, for a stall's report: the orders working at the
        exchange without a fill, each with its price and the touch it was sent against."""
        working = [(p, c) for p in self.legs for c in p.children
                   if c.status is ChildStatus.WORKING]
        if not working:
            return "nothing of the basket was working at the exchange or on its way to it"
        orders = []
        for parent, child in working:
            decision = child.decision
            price = "at the market" if decision is None or decision.limit_price is None \
                else f"at {decision.limit_price:g}"
            touch = f" (bid {decision.bid:g}, ask {decision.ask:g} when sent)" \
                if decision is not None and decision.bid is not None \
                and decision.ask is not None else ""
            orders.append(f"{parent.request.side.value} {child.leaves} "
                          f"{parent.request.tradingsymbol} {price}{touch}")
        return f"no fill for {timeout_s:g} s on the orders working: " + ", ".join(orders)

    def _wake_others(self, parent: ParentState) -> None:
        for other in self.legs:
            if other is not parent:
                other.changed.set()

    def _any_paused(self) -> bool:
        return any(p.paused_at is not None for p in self.legs)

    def progress(self) -> list[LegProgress]:
        """Every leg's filled units and units out (sent and possibly still filling)."""
        return [LegProgress(parent.filled, sum(_units_out(c) for c in parent.children),
                            self.waiting.get(i, 0), self.late_units(parent))
                for i, parent in enumerate(self.legs)]

    # ------------------------------------------------------------------ stopping

    def stop(self, reason: str) -> None:
        """Stop the basket (once): cancel the sells' working orders, then the buys'."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.changed.set()
        self.stopping_task = asyncio.get_running_loop().create_task(
            self._cancel_hedge_safe(), name=f"basket-{self.basket_id}-stop")

    async def _cancel_hedge_safe(self) -> None:
        sells = [p for p in self.legs if p.request.side is Side.SELL]
        buys = [p for p in self.legs if p.request.side is Side.BUY]
        for group in (sells, buys):
            for parent in group:
                if not parent.stopping:
                    parent.cancel_requested = True
                    parent.note = parent.note or f"basket stopped: {self.stop_reason}"
                    parent.permit.revoke("basket stopped")
                    parent.notify()
            tasks = [p.task for p in group if p.task is not None and not p.task.done()]
            if tasks:
                await asyncio.wait(tasks)

    # ------------------------------------------------------------------ the end

    def leg_finished(self, parent: ParentState, result: ExecutionResult) -> None:
        """A leg ended: stop the basket if it ended short; finish when all have."""
        if result.filled_quantity < result.quantity and self.stop_reason is None:
            self.stop(f"{parent.request.side.value} {parent.request.tradingsymbol} ended "
                      f"{result.status.value}: {result.filled_quantity} of {result.quantity} "
                      f"filled" + (f" ({result.message})" if result.message else ""))
        self.changed.set()
        if all(p.future.done() for p in self.legs):
            self._finish([p.future.result() for p in self.legs])

    def _finish(self, results: list[ExecutionResult]) -> None:
        if self.future.done():
            return
        filled = sum(r.filled_quantity for r in results)
        quantity = sum(r.quantity for r in results)
        every_leg = all(r.filled_quantity >= r.quantity for r in results)
        if every_leg and self.stop_reason is None:
            status, message = ParentStatus.FILLED, "every leg filled"
            over = self._overfills(results)
            if over:
                message += f"; {over}"
        else:
            status = ParentStatus.PARTIAL if filled else ParentStatus.CANCELLED
            message = f"stopped: {self.stop_reason or 'a leg ended short'}\n" + \
                self.report(results)
        self.emit(self.events.basket_event(self.basket_id, EventKind.BASKET_FINISHED,
                                           Status(status), quantity=quantity, filled=filled,
                                           message=message))
        self.future.set_result(BasketResult(self.basket_id, status, self.request,
                                            tuple(results), message))

    def _overfills(self, results: list[ExecutionResult]) -> str:
        """Legs that filled more than asked (a late order of a timed-out attempt)."""
        return ", ".join(f"{leg.tradingsymbol} overfilled by {r.filled_quantity - r.quantity}"
                         for leg, r in zip(self.request.legs, results, strict=True)
                         if r.filled_quantity > r.quantity)

    def report(self, results: list[ExecutionResult]) -> str:
        """Per leg: filled, left, and any order that may still be live."""
        lines = []
        for leg, result in zip(self.request.legs, results, strict=True):
            line = (f"{leg.side.value} {leg.tradingsymbol}: filled {result.filled_quantity} "
                    f"of {result.quantity}, {result.quantity - result.filled_quantity} left")
            if result.message and "may still be live" in result.message:
                line += f" ({result.message})"
            if result.filled_quantity > result.quantity:
                line += f" (overfilled by {result.filled_quantity - result.quantity})"
            lines.append(line)
        uncovered = self.rules.uncovered([r.filled_quantity for r in results])
        naked = {k: v for k, v in uncovered.items() if v}
        lines.append("short uncovered: " + (", ".join(f"{' '.join(k)} {v}"
                                                       for k, v in naked.items()) or "none"))
        return "\n".join(lines)

    def refuse(self, message: str, results: list[ExecutionResult], *,
               cancelled: bool = False, bucket: ErrorBucket = ErrorBucket.RISK) -> None:
        """The basket never started: refused (margin, a lost session: one row in the risk
        bucket; a leg's instrument not listed: fatal), or ``cancelled`` by the trader before
        its legs started (no error)."""
        if self.future.done():
            return
        status = ParentStatus.CANCELLED if cancelled else ParentStatus.FAILED
        errors = {} if cancelled else {"error_bucket": bucket, "error": message}
        self.emit(self.events.basket_event(
            self.basket_id, EventKind.BASKET_FINISHED, Status(status),
            quantity=sum(leg.quantity for leg in self.request.legs), filled=0,
            message=message, **errors))
        self.future.set_result(BasketResult(self.basket_id, status, self.request,
                                            tuple(results), message))


def _revalidated(leg: ExecutionRequest, **changes: object) -> ExecutionRequest:
    """``leg`` with ``changes``, checked again (a copy alone would skip validation): the rest
    of a leg, or its unwind, is a new request. Slices are capped at what the new quantity
    allows; an absolute window is dropped (the horizon, if any, starts again)."""
    fields = leg.model_dump() | changes
    lots = max(1, int(fields["quantity"]) // leg.lot_size)
    fields["max_child_orders"] = min(int(fields["max_child_orders"]), lots)
    return ExecutionRequest.model_validate(fields)


def _surplus(parent: ParentState, child: ChildState) -> bool:
    """Whether ``parent`` has its quantity filled or out without ``child``: sent, it could
    only overfill the leg (a short beyond its hedge)."""
    others = sum(_units_out(c) for c in parent.children if c is not child)
    return parent.filled + others >= parent.quantity


def _units_out(child: ChildState) -> int:
    """Units of ``child`` that may still fill: working, on their way, released by the gate
    and not yet sent, or of unknown outcome. (An earlier ambiguous attempt of it, watched for
    a late order, is counted apart: ``BasketRun.late_units``.)"""
    if child.status is ChildStatus.WORKING or child.status is ChildStatus.UNKNOWN:
        return child.leaves
    if child.status is ChildStatus.SCHEDULED and (child.in_flight or child.released):
        return child.leaves
    return 0


async def check_margin(gateway: BrokerGateway,
                       basket_margin: Callable[[list[MarginLeg]], MarginCheck],
                       request: BasketRequest) -> str | None:
    """Ask the broker what the basket needs; the refusal message, or None: it fits."""
    legs = [MarginLeg.of(leg) for leg in request.legs]
    check = await gateway.call(RequestKind.MARGIN_READ, basket_margin, legs)
    if check.shortfall <= 0:
        return None
    without = check.required_without_hedge
    hedge = f" (without the hedge benefit: {without:,.2f})" if without else ""
    return (f"margin: the basket needs {check.required:,.2f}{hedge} but "
            f"{check.available:,.2f} is available, short by {check.shortfall:,.2f}; "
            "nothing was sent")


def roles_text(rules: LeggingRules) -> str:
    """The accepted row's message: the order the legs go in and why."""
    return "\n".join(rules.sequence_text())


__all__ = ["BasketResult", "BasketRun", "LegRole", "check_margin", "roles_text"]
