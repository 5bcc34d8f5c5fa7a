"""A parent's life on the engine's loop: started (or refused at the start), run through its
schedule, paused, resumed, cancelled, and finished once (its final rows, then its handle).

:class:`ParentRunner` owns the working parents (``parents``: every ParentState from its start
to its finish, shared with the restart's :class:`~.recovering.OrphanKeeper` and the
:class:`~.session.SessionKeeper`). The engine's public calls hop onto the loop and end here;
the schedule itself is :mod:`.schedule`'s, a parent's final rows :mod:`.finishing`'s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Mapping

from ..algos.plan import ExecutionPlan
from ..baskets.lifecycle import PlannedLeg
from ..clock import Clock
from ..events import ErrorBucket, Event, EventKind, ParentStatus
from ..instruments import underlying_index_key
from ..request import ExecutionRequest
from .admission import Admission
from .cancelling import ChildCanceller
from .config import SessionExpired
from .event_factory import EventFactory
from .finishing import ParentFinisher
from .gateway import BrokerGateway, SendPermit
from .listing import InstrumentListing
from .market_data import MarketDataService, instrument_key
from .schedule import ScheduleRunner
from .state import BasketLeg, ChildState, ExecutionResult, ParentState

log = logging.getLogger(__name__)


class ParentRunner:
    """Starts, runs, controls and finishes parents. Loop thread."""

    def __init__(self, *, clock: Clock, events: EventFactory,
                 emit: Callable[[Event], None], gateway: BrokerGateway,
                 market_data: MarketDataService, listing: InstrumentListing,
                 admission: Admission, schedule: ScheduleRunner, canceller: ChildCanceller,
                 finisher: ParentFinisher, index_quote_keys: Mapping[str, str],
                 closed: Callable[[], bool],
                 hold: Callable[[ParentState], Awaitable[None]],
                 leg_finished: Callable[[ParentState, ExecutionResult], None]) -> None:
        self.parents: dict[str, ParentState] = {}
        self.clock = clock
        self.events = events
        self._emit = emit
        self.gateway = gateway
        self.market_data = market_data
        self.listing = listing
        self.admission = admission
        self.schedule = schedule
        self.canceller = canceller
        self.finisher = finisher
        self.index_quote_keys = index_quote_keys
        #: Whether the engine is shut down (no parent starts; one finishing says so).
        self._closed = closed
        #: Holds a halted parent until the trader cancels or adopts it (the restart's
        #: :class:`~.recovering.OrphanKeeper`).
        self._hold = hold
        #: A basket's leg ended (its basket goes on or ends).
        self._leg_finished = leg_finished

    def start(self, parent_id: str, request: ExecutionRequest, plan: ExecutionPlan,
              seed: int, permit: SendPermit,
              future: concurrent.futures.Future[ExecutionResult], *,
              basket: BasketLeg | None = None) -> ParentState | None:
        """Make ``parent_id``'s state and run it; None (its future failed, its permit
        dropped) when the session is lost or the engine shut down."""
        session_lost = self.gateway.session_lost
        if self._closed() or session_lost is not None:  # never start it
            self.admission.drop(parent_id)
            future.set_exception(SessionExpired(session_lost) if session_lost
                                 else RuntimeError("the execution engine is shut down"))
            return None
        parent = ParentState(parent_id=parent_id, request=request, plan=plan,
                             arrival_price=request.mid, future=future, permit=permit,
                             basket=basket,
                             underlying_key=underlying_index_key(
                                 request.tradingsymbol, index_keys=self.index_quote_keys))
        parent.children = [ChildState(c.index, c.slice_index, c.quantity, c.send_at)
                           for c in plan.children]
        parent.child_numbers = len(parent.children)
        if permit.revoked:  # cancelled before it reached the loop
            parent.cancel_requested = True
        self.parents[parent_id] = parent
        parent.task = asyncio.get_running_loop().create_task(self._run(parent, seed),
                                                             name=f"parent-{parent_id}")
        return parent

    def start_leg(self, leg: PlannedLeg, permit: SendPermit,
                  future: concurrent.futures.Future[ExecutionResult],
                  basket: BasketLeg) -> ParentState | None:
        return self.start(leg.parent_id, leg.request, leg.plan, leg.seed, permit, future,
                          basket=basket)

    async def _run(self, parent: ParentState, seed: int) -> None:
        req = parent.request
        # The index rides along: in the same quote calls as the option (REST), or on the
        # stream; the accepted row takes its price if one is at hand, never waiting for it.
        keys = [instrument_key(req.exchange, req.tradingsymbol)]
        if parent.underlying_key is not None:
            keys.append(parent.underlying_key)
        subscribed = False
        try:
            # Its instrument first, unless known (then nothing waits): the caller's thread
            # never asks the broker; a basket's legs were checked together before any started.
            refusal = await self.listing.parent_refusal(parent.request) \
                if parent.basket is None else None
            if refusal is not None:
                parent.failure, parent.failure_bucket = refusal, ErrorBucket.FATAL
                return
            self.market_data.subscribe(keys)
            subscribed = True
            refusal = await self.admission.price_refusal(parent) \
                or await self.admission.margin_refusal(parent)
            if refusal is not None:
                parent.failure, parent.failure_bucket = refusal, ErrorBucket.RISK
                return
            await self.schedule.run(parent, seed)
            if parent.halted is not None and not self._closed():
                await self._hold(parent)  # until the trader cancels or adopts it
        except Exception as exc:  # a bug must still end the parent with a row, never hang it
            log.exception("parent %s crashed", parent.parent_id)
            parent.failure = f"internal error: {exc!r}"
            try:
                await self.canceller.cancel_working(parent)
            except Exception:
                log.exception("parent %s: cancelling after the crash failed", parent.parent_id)
        finally:
            if subscribed:
                self.market_data.unsubscribe(keys)
            self.finish(parent)

    def finish(self, parent: ParentState) -> None:
        """End ``parent`` once: its final rows, then its handle resolves."""
        if self.parents.get(parent.parent_id) is not parent:
            return  # already finished
        if parent.failure is None and self.gateway.session_lost is not None \
                and (parent.halted is not None or parent.recovered):
            parent.failure = parent.halted or self.gateway.session_lost  # ended unreconciled
        result = self.finisher.finish(parent, shutting_down=self._closed())
        del self.parents[parent.parent_id]
        self.admission.drop(parent.parent_id, result.filled_quantity * result.average_price)
        if not parent.future.done():
            parent.future.set_result(result)
        if parent.basket is not None:
            self._leg_finished(parent, result)

    # ------------------------------------------------------------------ controls

    def cancel(self, parent_id: str) -> None:
        parent = self.parents.get(parent_id)
        if parent is not None and not parent.cancel_requested:
            parent.cancel_requested = True
            parent.permit.revoke("parent cancelled")
            parent.notify()

    def cancel_all(self) -> None:
        for parent_id in list(self.parents):
            self.cancel(parent_id)

    def pause(self, parent_id: str) -> None:
        parent = self.parents.get(parent_id)
        if parent is None or parent.paused_at is not None or parent.stopping:
            return
        parent.paused_at = self.clock.now()
        parent.status = ParentStatus.PAUSED
        self._emit(self.events.parent_event(parent, EventKind.PAUSED))
        parent.notify()

    def resume(self, parent_id: str) -> None:
        parent = self.parents.get(parent_id)
        if parent is None or parent.paused_at is None or parent.halted is not None:
            return  # (halted: held until the trader cancels or adopts it)
        paused_for = self.clock.now() - parent.paused_at
        parent.shift_s += paused_for
        parent.paused_at = None
        parent.status = ParentStatus.WORKING
        self._emit(self.events.parent_event(parent, EventKind.RESUMED,
                                            message=f"schedule shifted by {paused_for:.1f} s"))
        parent.notify()


__all__ = ["ParentRunner"]
