"""ExecutionEngine: runs parents on its own asyncio loop, in its own thread, with no Qt.

Ownership: every ParentState and ChildState is created, read and changed on the engine thread
only. Other threads talk to the engine through :meth:`submit`, :meth:`cancel`, :meth:`pause`,
:meth:`resume` and :meth:`shutdown`, which hop onto the loop with ``call_soon_threadsafe``
(the kill switch also revokes send permits at once, on the caller's thread).

This module wires the engine's parts together (each has a module of this package: see its
docstring) and is its public face: submit, the controls, the restart's calls, the desk's
reads, shutdown. A parent's life on the loop is :mod:`.parents`; the broker session's loss
and resume :mod:`.session`; a basket's life :mod:`~imperium_exec.baskets.lifecycle`.

Accounting: a parent's quantity is always ``filled + working + remaining``. A child that ends
cancelled or rejected gives its unfilled quantity back to ``remaining``; scheduled algorithms
roll it into their next slice. Every child ends in a terminal row (filled, cancelled, rejected,
error, or unknown when the engine stopped before learning an attempt's outcome) and every parent
in a ``finished`` row, which is also what resolves the caller's handle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import zlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..algos.planner import ExecutionAlgoPlanner
from ..baskets.lifecycle import BasketBook, PlannedLeg
from ..baskets.request import BasketRequest
from ..baskets.runner import BasketResult
from ..brokers.base import Broker, MarginCheck, MarginLeg, checked_capabilities
from ..clock import Clock, RealClock
from ..costs.slippage import SlippageModel
from ..events import Event
from ..recovery.journal import JournalDay
from ..recovery.report import RecoveryReport
from ..request import ExecutionRequest, RequestError
from ..retry import RetryPolicy
from ..risk import Breach
from ..router import SmartOrderRouter
from ..telemetry import FillQualityTracker
from .admission import Admission
from .cancelling import ChildCanceller
from .config import EngineConfig, SessionExpired
from .desk_fills import DeskFills
from .event_factory import EventFactory
from .finishing import ParentFinisher
from .gateway import BrokerGateway
from .listing import InstrumentListing
from .market_data import (
    MarketDataConfig,
    MarketDataService,
    MarketQuote,
    instrument_key,
)
from .markouts import MarkoutTracker
from .order_tracker import OrderTracker, TrackerConfig
from .parents import ParentRunner
from .placement import PlacementConfig, Placer
from .rate_budget import RateBudget, RequestKind
from .recovering import OrphanKeeper
from .runtime import EngineServices, EngineThread
from .schedule import ScheduleRunner
from .session import SessionKeeper
from .state import (
    TAG_LENGTH,
    ChildResult,
    ChildState,
    ExecutionResult,
    ParentIds,
    ParentState,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
RowListener = Callable[[dict[str, Any]], None]


class ExecutionEngine:
    """The execution core: route, slice, estimate, place, retry, track fills, write telemetry."""

    def __init__(self, broker: Broker, *, mode: str = "paper", clock: Clock | None = None,
                 tracker: FillQualityTracker | None = None,
                 planner: ExecutionAlgoPlanner | None = None,
                 router: SmartOrderRouter | None = None,
                 slippage: SlippageModel | None = None,
                 retry_policy: RetryPolicy | None = None,
                 config: EngineConfig | None = None) -> None:
        self.broker = broker
        self.capabilities = offers = checked_capabilities(broker, tag_length=TAG_LENGTH)
        self.mode = mode
        self.clock: Clock = clock or offers.clock or RealClock()
        self.tracker = tracker
        # A broker that knows the volume curve its market trades (the paper exchange) is
        # planned with it, every day: its sessions have no expiry-day shape.
        self.planner = planner or ExecutionAlgoPlanner(volume_curve=offers.volume_curve)
        self.router = router or SmartOrderRouter(primary_route=broker.name)
        # Failures read in the broker's own dialect.
        self.retry_policy = dataclasses.replace(retry_policy or RetryPolicy(),
                                                errors=offers.errors)
        self.config = cfg = config or EngineConfig()
        self.events = EventFactory(self.clock, mode, self.router.primary_route)
        self._listeners: list[RowListener] = []
        self.ids = ParentIds(self.clock.now, cfg.id_seed)
        self._closed = False

        limits = cfg.rate_limits or offers.rate_limits
        self.budget = RateBudget(limits, max_in_flight=cfg.broker_threads,
                                 wall_time=self.clock.now)
        self.gateway = BrokerGateway(self.budget,
                                     on_session_lost=lambda reason: self.session.lost(reason),
                                     errors=offers.errors)
        self.orders = OrderTracker(
            clock=self.clock, gateway=self.gateway, read_book=broker.orders,
            cancel_order=broker.cancel_order, events=self.events, emit=self._emit,
            retry_policy=self.retry_policy,
            is_active=lambda p: self.runner.parents.get(p.parent_id) is p,
            config=TrackerConfig(poll_interval_s=cfg.poll_interval_s,
                                 stream_poll_interval_s=cfg.stream_poll_interval_s,
                                 min_read_gap_s=cfg.min_read_gap_s,
                                 late_order_watch_s=min(
                                     cfg.late_order_watch_s,
                                     offers.late_order_window_s or cfg.late_order_watch_s)))
        self.market_data = MarketDataService.for_broker(
            broker, self.clock, gateway=self.gateway,
            config=MarketDataConfig(max_age_s=cfg.max_quote_age_s))
        self.markouts = MarkoutTracker(clock=self.clock, market_data=self.market_data,
                                       events=self.events, emit=self._emit,
                                       horizons_s=cfg.markout_horizons_s)
        self.desk_fills = DeskFills()
        self.orders.on_fill = self._fill_taken
        self.orders.on_late_fill = self._desk_fill
        self.orders.underlying_now = self._underlying_now
        self.placer = Placer(
            broker=broker, gateway=self.gateway, market_data=self.market_data,
            tracker=self.orders, router=self.router,
            slippage=slippage or SlippageModel(
                offers.slippage_params, fit="broker" if offers.slippage_params else None),
            retry_policy=self.retry_policy, events=self.events, emit=self._emit, clock=self.clock,
            config=PlacementConfig(quote_wait_s=cfg.quote_wait_s,
                                   modify_resting=cfg.modify_resting,
                                   modify_headroom=cfg.modify_headroom),
            desk_fills=self.desk_fills)
        self.admission = Admission(limits=cfg.risk_limits, budget=self.budget,
                                   gateway=self.gateway, clock=self.clock,
                                   check_margin=offers.basket_margin,
                                   market_data=self.market_data, placer=self.placer)
        self.placer.on_write = self.admission.placed
        self.canceller = ChildCanceller(
            broker=broker, gateway=self.gateway, orders=self.orders, clock=self.clock,
            cancel_timeout_s=cfg.cancel_timeout_s, poll_interval_s=cfg.poll_interval_s)
        self.finisher = ParentFinisher(
            events=self.events, emit=self._emit, orders=self.orders, gateway=self.gateway,
            tracker=tracker, cancel_timeout_s=cfg.cancel_timeout_s, end_mid=self._mid_now)
        self.schedule = ScheduleRunner(
            broker=broker, planner=self.planner, placer=self.placer, orders=self.orders,
            canceller=self.canceller, events=self.events, emit=self._emit, clock=self.clock,
            market_rest_s=cfg.market_rest_s)
        self.schedule.on_unplanned = self.admission.unplanned
        #: What the broker lists, as learned on the loop: the caller's thread reads it only.
        self.listing = InstrumentListing(offers.lists, broker.name)
        self.runner = ParentRunner(
            clock=self.clock, events=self.events, emit=self._emit, gateway=self.gateway,
            market_data=self.market_data, listing=self.listing, admission=self.admission,
            schedule=self.schedule, canceller=self.canceller, finisher=self.finisher,
            index_quote_keys=offers.index_quote_keys, closed=lambda: self._closed,
            hold=lambda parent: self.orphans.hold(parent),
            leg_finished=lambda parent, result: self.baskets.leg_finished(parent, result))
        self.baskets = BasketBook(
            clock=self.clock, events=self.events, emit=self._emit, gateway=self.gateway,
            late_units=self.orders.late_units, basket_margin=offers.basket_margin,
            start_leg=self.runner.start_leg, drop_permit=self.admission.drop,
            closed_reason=self._closed_reason, price_refusal=self.admission.basket_price_refusal,
            listing_refusal=lambda legs: self.listing.basket_refusal(
                [leg.request for leg in legs]))
        self.orphans = OrphanKeeper(
            broker=broker, gateway=self.gateway, orders=self.orders, canceller=self.canceller,
            events=self.events, emit=self._emit, clock=self.clock,
            parents=self.runner.parents, finish=self.runner.finish,
            submit=lambda request, parent_id: self._submit_as(request, parent_id,
                                                              override_limits=True),
            ours=self.ids.issued, closed=self._closed_reason, retry_policy=self.retry_policy)
        self.services = EngineServices(broker=broker, gateway=self.gateway,
                                       market_data=self.market_data, orders=self.orders)

        self._thread = EngineThread(self.clock)
        self._loop = self._thread.loop
        self.session = SessionKeeper(gateway=self.gateway, services=self.services,
                                     orders=self.orders, orphans=self.orphans,
                                     events=self.events, emit=self._emit,
                                     parents=self.runner.parents, loop=self._loop)
        self._loop.call_soon_threadsafe(self.services.start)

    # ------------------------------------------------------------------ public (any thread)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def session_lost(self) -> str | None:
        """Why the broker session is gone (the trader must log in again), or None."""
        return self.gateway.session_lost

    def add_listener(self, listener: RowListener) -> None:
        """Call ``listener(row)`` on the engine thread for every row, after it is written."""
        self._listeners.append(listener)

    def submit(
        self, request: ExecutionRequest, *, override_limits: bool = False,
    ) -> tuple[str, concurrent.futures.Future[ExecutionResult]]:
        """Plan ``request`` now and hand it to the engine. Returns at once with the parent id
        and a future of the result. Raises ``ValueError`` for a plan that cannot be made and
        :class:`~imperium_exec.risk.RiskRefusal` for a pre-trade limit it breaks (size limits
        are lifted by ``override_limits``: the trader confirmed); nothing is sent then.

        No broker call on the caller's thread: a symbol known not to be listed raises here
        (``RequestError`` naming ``tradingsymbol``); one not known yet is checked on the loop,
        and if the broker does not list it the parent fails there (its ``finished`` row and
        result name ``tradingsymbol``; fatal bucket) before anything is sent."""
        self._check_open()
        self.listing.check_now(request)
        parent_id = self.ids.new()
        return parent_id, self._submit_as(request, parent_id, override_limits=override_limits)

    def _submit_as(self, request: ExecutionRequest, parent_id: str, *,
                   override_limits: bool) -> concurrent.futures.Future[ExecutionResult]:
        """Plan, admit and start ``request`` as ``parent_id`` (any thread)."""
        seed = request.seed if request.seed is not None else zlib.crc32(parent_id.encode())
        planned_at = self.clock.now()
        plan = self.planner.plan(request, now=planned_at, seed=seed,
                                 session_seconds=self.broker.session_seconds)
        future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        permit = self.admission.admit([PlannedLeg(parent_id, request, plan, seed)],
                                      override_limits=override_limits, basket=False)[parent_id]
        self._loop.call_soon_threadsafe(self.runner.start, parent_id, request, plan, seed,
                                        permit, future)
        return future

    # ------------------------------------------------------------------ after a crash

    def recover(self, day: JournalDay,
                journal: str | None) -> concurrent.futures.Future[RecoveryReport]:
        """Hold the day's unfinished parents as found in the broker's order book (see
        ``engine.recovering``); their ids are never issued again. Nothing is sent."""
        self.ids.reserve(day.parent_ids)
        self.admission.count_traded_today(day.bought, day.sold)
        if day.rows:  # an earlier session today: its last requests left no rows
            self._loop.call_soon_threadsafe(self.budget.count_unseen_requests)
        if day.writes:
            self._loop.call_soon_threadsafe(self.budget.count_earlier_writes, day.writes)
        if day.fills:
            self._loop.call_soon_threadsafe(self.desk_fills.seed, [
                (instrument_key(f.exchange, f.tradingsymbol), f.parent_id, f.ts, f.units)
                for f in day.fills])
        return asyncio.run_coroutine_threadsafe(self.orphans.recover(day, journal), self._loop)

    def reserve_ids(self, ids: Iterable[str]) -> None:
        """Ids used before (the day's journal): never issued again (:meth:`recover` does
        this for the day it reads)."""
        self.ids.reserve(ids)

    def cancel_orphans(self) -> concurrent.futures.Future[list[ExecutionResult]]:
        """Cancel every parent held from the restart (sells first); their results."""
        return asyncio.run_coroutine_threadsafe(self.orphans.cancel_orphans(), self._loop)

    def adopt(self, parent_id: str, *, window_s: float | None = None,
              ) -> tuple[str, concurrent.futures.Future[ExecutionResult]]:
        """Send the rest of a parent held from the restart as a new parent (once its open
        orders are cancelled), over ``window_s`` (default: what is left of its window): its id
        now, and a future of its result (or of why not)."""
        self._check_open()
        new_parent_id = self.ids.new()
        future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self.orphans.adopt, parent_id, new_parent_id, future,
                                        window_s)
        return new_parent_id, future

    def check_limits(self, request: ExecutionRequest) -> list[Breach]:
        """The pre-trade limits ``request`` would break if submitted now, for a desk to show
        before it asks the trader (nothing is sent or registered). Raises ``ValueError`` for a
        plan that cannot be made, or a symbol known not to be listed; the broker is asked about
        a symbol not known yet on the loop, so an ``execute()`` after the confirmation refuses
        it at once."""
        self.listing.check_now(request)
        self._learn_listing([(request.tradingsymbol, request.exchange)])
        seed = request.seed if request.seed is not None else 0
        plan = self.planner.plan(request, now=self.clock.now(), seed=seed,
                                 session_seconds=self.broker.session_seconds)
        return self.admission.preview(PlannedLeg("preview", request, plan, seed))

    def submit_basket(
        self, basket: BasketRequest, *, override_limits: bool = False,
    ) -> tuple[str, list[str], concurrent.futures.Future[BasketResult]]:
        """Plan every leg now (raising ``ValueError`` naming ``legs[i]`` for a leg that cannot
        be planned, or whose symbol is known not to be listed) and hand the basket to the
        engine. Returns at once with the basket's id, its legs' parent ids (in the basket's
        order) and a future of its result. Symbols not known yet are checked on the loop
        before any leg starts: one not listed ends the basket failed (its ``basket_finished``
        row names ``legs[i].tradingsymbol``; fatal bucket) with nothing sent."""
        self._check_open()
        problems: list[tuple[str, str]] = []
        for i, leg in enumerate(basket.legs):
            try:
                self.listing.check_now(leg)
            except RequestError as exc:
                problems += [(f"legs[{i}].{key}", reason) for key, reason in exc.problems]
        if problems:
            raise RequestError(problems)
        basket_id = self.ids.new()
        planned_at = self.clock.now()
        legs: list[PlannedLeg] = []
        # One seed for every leg that names none: their slices are randomised alike, so the
        # legs' schedules stay in step.
        basket_seed = zlib.crc32(basket_id.encode())
        for i, leg in enumerate(basket.legs):
            parent_id = self.ids.new()
            seed = leg.seed if leg.seed is not None else basket_seed
            try:
                plan = self.planner.plan(leg, now=planned_at, seed=seed,
                                         session_seconds=self.broker.session_seconds)
            except ValueError as exc:
                raise RequestError([(f"legs[{i}]", str(exc))]) from None
            legs.append(PlannedLeg(parent_id, leg, plan, seed))
        future: concurrent.futures.Future[BasketResult] = concurrent.futures.Future()
        permits = self.admission.admit(legs, override_limits=override_limits, basket=True)
        self._loop.call_soon_threadsafe(self.baskets.start, basket_id, basket, legs, permits,
                                        future)
        return basket_id, [leg.parent_id for leg in legs], future

    def cancel_basket(self, basket_id: str) -> None:
        """Stop a basket hedge-safe: the sells' working orders are cancelled before the buys'."""
        self._loop.call_soon_threadsafe(self.baskets.stop, basket_id, "cancelled by the trader")

    def _check_open(self) -> None:
        if self.session_lost is not None:
            raise SessionExpired(self.session_lost)
        if self._closed:
            raise RuntimeError("the execution engine is shut down")

    def _learn_listing(self, keys: list[tuple[str, str]]) -> None:
        """Ask ahead, on the loop, whether the broker lists these ``(tradingsymbol,
        exchange)`` (any thread; never waits)."""
        if not self._closed:
            self.listing.learn(self._loop, keys)

    def cancel(self, parent_id: str) -> None:
        """Cancel one parent: from this moment it sends no new order."""
        permit = self.admission.permit(parent_id)
        if permit is not None:
            permit.revoke("parent cancelled")
        self._loop.call_soon_threadsafe(self.runner.cancel, parent_id)

    def cancel_all(self) -> None:
        """Kill switch: from the moment this returns no new order is sent; resting children
        are cancelled at the front of the write queue."""
        permits = self.admission.permits()
        for permit in permits:
            permit.revoke("kill switch")
        self._loop.call_soon_threadsafe(self.runner.cancel_all)

    def pause(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self.runner.pause, parent_id)

    def resume(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self.runner.resume, parent_id)

    def watch_quotes(self, keys: list[str]) -> None:
        """Keep ``keys`` ("NFO:SYMBOL") fresh for the desk (its chain); any thread. Whether
        the broker lists them is learned meanwhile, on the loop."""
        self.market_data.subscribe_threadsafe(self._loop, keys)
        pairs = [key.partition(":") for key in keys]
        self._learn_listing([(symbol, exchange) for exchange, _, symbol in pairs])

    def unwatch_quotes(self, keys: list[str]) -> None:
        self.market_data.unsubscribe_threadsafe(self._loop, keys)

    def desk_request(self, func: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
        """Run a broker read for the desk (e.g. an instruments dump) under the account's rate
        budget, at the desk's priority. Blocks the calling thread (never the GUI's: call it from
        a worker) until it is done; the wait for budget happens on the engine's loop."""
        return self.desk_read(func, *args).result(timeout)

    def desk_read(self, func: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """:meth:`desk_request` without the wait: the answer as a future (any thread; the
        desk polls it, e.g. the broker's positions)."""
        return asyncio.run_coroutine_threadsafe(
            self.gateway.call(RequestKind.DESK_READ, func, *args), self._loop)

    def margin_of(self, request: ExecutionRequest,
                  ) -> concurrent.futures.Future[MarginCheck] | None:
        """What the broker says ``request`` needs in margin against what the account has,
        asked on the engine's loop under the rate budget (the caller never waits: a desk's
        confirmation shows it when it comes); None where the broker has no margin check."""
        check = self.capabilities.basket_margin
        if check is None:
            return None
        return asyncio.run_coroutine_threadsafe(
            self.gateway.call(RequestKind.MARGIN_READ, check, [MarginLeg.of(request)]),
            self._loop)

    def quotes(self, keys: list[str]) -> dict[str, MarketQuote]:
        """The newest quotes held for ``keys``, with source and arrival time; any thread."""
        return self.market_data.snapshot(keys)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop sending, cancel working children, settle them, write every final row.

        No new order goes out from the moment this is called. Working children are cancelled
        and their state is settled from the stream or a final order-book read before the
        results are written; parents still working after ``timeout`` are ended anyway (after
        one more read), with rows that say what may still be live, so every handle resolves."""
        if self._closed:
            return
        self._closed = True
        self.gateway.halt_placements("engine shut down")
        permits = self.admission.permits()
        for permit in permits:
            permit.revoke("engine shut down")
        self._thread.wind_down(drain=self._drain, force_finish=self._force_finish,
                               stop_services=self._stop_services, timeout=timeout)
        self.gateway.close()
        if self.tracker is not None:
            self.tracker.sync()

    # ------------------------------------------------------------------ shutdown (loop thread)

    async def _stop_services(self) -> None:
        await self.markouts.close()
        await self.services.stop()

    async def _drain(self) -> None:
        self.runner.cancel_all()
        futures: list[concurrent.futures.Future[Any]] = [
            p.future for p in self.runner.parents.values()]
        # Baskets too: one still in its margin check has no parents yet; it is refused
        # once the check returns (the engine is closed by then).
        futures += [run.future for run in self.baskets]
        if futures:
            await asyncio.wait([asyncio.wrap_future(f) for f in futures])
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.orders.refresh(), 5.0)  # late watches see the end
        self._report_unresolved_watches()

    def _report_unresolved_watches(self) -> None:
        """Tags still watched as the engine stops get a row each, unless the session row
        already named them (nothing could be watched after the session was lost)."""
        if self.session_lost is None:
            self.orders.report_unresolved()

    async def _force_finish(self) -> None:
        """Shutdown ran out of time: one more order-book read (it may settle the children
        still waiting for a cancel), then end every parent; their finish writes what may still
        be live, and every handle resolves."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.orders.refresh(), 3.0)
        tasks = []
        for parent in list(self.runner.parents.values()):
            if parent.task is not None:
                parent.task.cancel()
                tasks.append(parent.task)
        await asyncio.gather(*tasks, return_exceptions=True)
        for parent in list(self.runner.parents.values()):  # a parent whose task never ran
            self.runner.finish(parent)
        self.baskets.refuse_unstarted("the execution engine shut down before the basket "
                                      "started")
        self._report_unresolved_watches()

    # ------------------------------------------------------------------ rows

    def _emit(self, event: Event) -> None:
        """Write the event's row to the journal, then hand the same row to every listener."""
        row = event.to_row()
        if self.tracker is not None:
            try:
                self.tracker.append(row)
            except Exception:  # a full disk or a closed journal must not stop execution
                log.exception("journal write failed; row: %s", row)
        for listener in self._listeners:
            try:
                listener(row)
            except Exception:
                log.exception("telemetry listener failed")

    # ------------------------------------------------------------------ the session

    def _fill_taken(self, parent: ParentState, child: ChildState, units: int,
                    price: float) -> None:
        """A fill the engine took in: its markouts (not for a parent held from a restart),
        and the desk's fills on the instrument."""
        if not parent.recovered:
            self.markouts.on_fill(parent, child, units, price)
        self._desk_fill(parent, units)

    def _desk_fill(self, parent: ParentState, units: int) -> None:
        """One of the desk's fills on ``parent``'s instrument (a late order's too, whether or
        not its parent still works): the next children's estimates count its impact,
        whichever parent they belong to."""
        req = parent.request
        self.desk_fills.record(instrument_key(req.exchange, req.tradingsymbol),
                               parent.parent_id, self.clock.now(), req.side.sign * units)

    def _underlying_now(self, parent: ParentState) -> float | None:
        """The parent's underlying index from a quote at hand (never waiting), if any."""
        key = parent.underlying_key
        return self.market_data.price_at_hand(key) if key is not None else None

    def resume_session(self, access_token: str) -> concurrent.futures.Future[RecoveryReport]:
        """After ``session_expired``: log in with ``access_token``, start the stream and the
        order tracker again and reconcile the halted parents by tag (what filled meanwhile is
        written once). A future of the report of what is held: nothing is sent until the
        trader cancels (``cancel_orphans``) or adopts them."""
        relogin = self.capabilities.relogin
        if relogin is None:
            raise ValueError(f"{self.broker.name}: its session never expires")
        if self._closed:
            raise RuntimeError("the execution engine is shut down")
        return asyncio.run_coroutine_threadsafe(self.session.resume(relogin, access_token),
                                                self._loop)

    # ------------------------------------------------------------------ the loop's helpers

    def _closed_reason(self) -> str | None:
        """Why nothing may start now (the session is lost, the engine shut down); None."""
        if self.session_lost is not None:
            return self.session_lost
        return "the execution engine is shut down" if self._closed else None

    def _mid_now(self, parent: ParentState) -> float | None:
        """The newest mid held for ``parent``'s instrument (whatever its age)."""
        req = parent.request
        held = self.market_data.latest(instrument_key(req.exchange, req.tradingsymbol))
        return held.quote.mid if held is not None else None


__all__ = ["BasketResult", "ChildResult", "EngineConfig", "ExecutionEngine", "ExecutionResult",
           "SessionExpired"]
