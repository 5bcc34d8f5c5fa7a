"""A basket's life on the engine's loop: accepted, margin-checked, its legs started as parents,
stopped hedge-safe, finished when its last leg ends.

:class:`BasketBook` holds the engine's baskets. The engine plans the legs (on the caller's
thread, at submit) and lends the book what only it has: starting a leg as a parent, dropping a
leg's send permit, and whether it is still open. What a running basket enforces between its
legs (the hedge before the short, the stall clock, the result) is :class:`~.runner.BasketRun`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..algos.plan import ExecutionPlan
from ..brokers.base import MarginCheck, MarginLeg
from ..clock import Clock
from ..engine.event_factory import EventFactory
from ..engine.gateway import BrokerGateway, SendPermit
from ..engine.state import BasketLeg, ExecutionResult, ParentState
from ..events import ErrorBucket, Event, EventKind, ParentStatus, Status
from ..request import ExecutionRequest
from .legging import LegRole
from .request import BasketRequest
from .runner import BasketResult, BasketRun, check_margin, roles_text


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One leg as planned at submit: its parent id, request, plan and slice seed."""

    parent_id: str
    request: ExecutionRequest
    plan: ExecutionPlan
    seed: int


class LateUnits(Protocol):
    """Units of a parent's attempts of unknown outcome that may still fill
    (``OrderTracker.late_units``): those looked for in vain for ``absent_for_s`` left out."""

    def __call__(self, parent: ParentState, *, absent_for_s: float | None = None) -> int: ...


#: Starts one leg as a parent on the loop (None: the engine would not start it).
StartLeg = Callable[[PlannedLeg, SendPermit, "concurrent.futures.Future[ExecutionResult]",
                     BasketLeg], "ParentState | None"]


class BasketBook:
    """The engine's baskets, on its loop."""

    def __init__(self, *, clock: Clock, events: EventFactory, emit: Callable[[Event], None],
                 gateway: BrokerGateway, late_units: LateUnits,
                 basket_margin: Callable[[list[MarginLeg]], MarginCheck] | None,
                 start_leg: StartLeg, drop_permit: Callable[[str], None],
                 closed_reason: Callable[[], str | None],
                 price_refusal: Callable[[list[PlannedLeg]], Awaitable[str | None]],
                 listing_refusal: Callable[[list[PlannedLeg]], Awaitable[str | None]],
                 ) -> None:
        self.clock = clock
        self.events = events
        self._emit = emit
        self.gateway = gateway
        self._late_units = late_units
        self._basket_margin = basket_margin
        self._start_leg = start_leg
        self._drop_permit = drop_permit
        self._closed_reason = closed_reason
        self._price_refusal = price_refusal
        self._listing_refusal = listing_refusal
        self._runs: dict[str, BasketRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __iter__(self) -> Iterator[BasketRun]:
        return iter(list(self._runs.values()))

    def start(self, basket_id: str, request: BasketRequest, legs: list[PlannedLeg],
              permits: dict[str, SendPermit],
              future: concurrent.futures.Future[BasketResult]) -> None:
        """Accept the basket (its row names each leg's role), then check its margin and start
        its legs."""
        rules = request.legging_rules([leg.plan for leg in legs])
        settle_s = request.policy.unknown_wait_s
        run = BasketRun(basket_id, request, rules, future, self.clock, self.events, self._emit,
                        late_units=lambda parent: self._late_units(parent,
                                                                   absent_for_s=settle_s))
        self._runs[basket_id] = run
        self._emit(self.events.basket_event(
            basket_id, EventKind.BASKET_ACCEPTED, Status.WORKING,
            quantity=sum(leg.quantity for leg in request.legs), filled=0,
            message=roles_text(rules)))
        task = asyncio.get_running_loop().create_task(self._run(run, legs, permits),
                                                      name=f"basket-{basket_id}")
        self._tasks.add(task)  # (the loop holds tasks weakly)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, run: BasketRun, legs: list[PlannedLeg],
                   permits: dict[str, SendPermit]) -> None:
        request = run.request
        unlisted = await self._listing_refusal(legs) if self._closed_reason() is None else None
        refusal = unlisted
        if refusal is None and self._closed_reason() is None:
            refusal = await self._price_refusal(legs)
        if refusal is None and request.policy.check_margin and self._basket_margin is not None \
                and len(legs) > 1 and self._closed_reason() is None:
            try:
                refusal = await check_margin(self.gateway, self._basket_margin, request)
            except Exception as exc:  # the check itself failed: do not send blind
                refusal = f"margin check failed ({type(exc).__name__}: {exc}); nothing was sent"
        refusal = self._closed_reason() or refusal  # also while the check ran
        # An instrument the broker does not list is bad input (fatal); the rest are risk.
        bucket = ErrorBucket.FATAL if refusal is not None and refusal == unlisted \
            else ErrorBucket.RISK
        if refusal is not None or run.stop_reason is not None:
            for parent_id in permits:
                self._drop_permit(parent_id)
            message = refusal or f"stopped before it started: {run.stop_reason}"
            run.refuse(message, [not_started(leg, message) for leg in legs],
                       cancelled=refusal is None, bucket=bucket)
            self._runs.pop(run.basket_id, None)
            return
        for index, leg in enumerate(legs):
            future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
            role = run.rules.roles[index]
            link = BasketLeg(run, index, role.value,
                             request.policy.pay_up_ticks if role is LegRole.HEDGE else None)
            parent = self._start_leg(leg, permits[leg.parent_id], future, link)
            if parent is not None:
                run.legs.append(parent)

    def stop(self, basket_id: str, reason: str) -> None:
        """Stop a basket hedge-safe: the sells' working orders are cancelled before the buys'."""
        run = self._runs.get(basket_id)
        if run is not None:
            run.stop(reason)

    def leg_finished(self, parent: ParentState, result: ExecutionResult) -> None:
        """A leg ended; the basket ends with its last."""
        assert parent.basket is not None
        run = self._runs.get(parent.basket.gate.basket_id)
        if run is not None:
            run.leg_finished(parent, result)
            if run.future.done():
                self._runs.pop(run.basket_id, None)

    def refuse_unstarted(self, message: str) -> None:
        """Shutdown ran out of time: a basket whose margin check never returned is refused;
        the book forgets every basket."""
        for run in list(self._runs.values()):
            if not run.legs and not run.future.done():
                run.refuse(message, [])
            self._runs.pop(run.basket_id, None)


def not_started(leg: PlannedLeg, message: str) -> ExecutionResult:
    """The result of a basket leg that never started (nothing was sent for it)."""
    request = leg.request
    return ExecutionResult(parent_id=leg.parent_id, status=ParentStatus.FAILED,
                           quantity=request.quantity, filled_quantity=0,
                           unfilled_quantity=request.quantity, average_price=0.0, order_ids=(),
                           children=(), message=message)
