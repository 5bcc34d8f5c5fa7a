"""ExecutionEngine: runs parents on its own asyncio loop, in its own thread, with no Qt.

Ownership: every ParentState and ChildState is created, read and changed on the engine thread
only. Other threads talk to the engine through :meth:`submit`, :meth:`cancel`, :meth:`pause`,
:meth:`resume` and :meth:`shutdown`, which hop onto the loop with ``call_soon_threadsafe``
(the kill switch also revokes send permits at once, on the caller's thread).

The parts, each in its own module: the account's :class:`~.rate_budget.RateBudget` behind a
:class:`~.gateway.BrokerGateway` (every broker request, by priority, never a thread waiting),
the :class:`~.market_data.MarketDataService` (one source of quotes, with source and age), the
:class:`~.order_tracker.OrderTracker` (stream updates and one shared order book) and the
:class:`~.placement.Placer` (fresh price, slot, brake, reconcile, retry). This module is the
parents' lifecycle: schedules, slices, cancels, the session, shutdown, and the final rows.

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
import logging
import os
import random
import string
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .algos import Algorithm, DueSlice, Replanner, algorithm_for
from .brokers.base import Broker, Quote, StreamHandlers
from .clock import Clock, RealClock
from .events import EventKind, ParentStatus
from .gateway import BrokerGateway, NotSent, SendPermit
from .market_data import (
    LocalQuoteStream,
    MarketDataConfig,
    MarketDataService,
    MarketQuote,
    QuoteSource,
    QuoteStream,
    instrument_key,
    quotes_one_by_one,
)
from .order_tracker import OrderTracker, TrackerConfig
from .placement import PlacementConfig, Placer, needs_no_quote
from .planner import ExecutionAlgoPlanner, ExecutionPlan, split_by_freeze
from .rate_budget import AccountRateLimits, RateBudget, RequestKind
from .request import ExecutionRequest, OrderType
from .retry import RetryPolicy, cancel_refused_as_ended
from .router import SmartOrderRouter
from .rows import RowFactory, slippage, slippage_bps
from .slippage import SlippageModel
from .state import ChildResult, ChildState, ChildStatus, ExecutionResult, ParentState
from .telemetry import FillQualityTracker
from .timeutil import epoch_to_iso

log = logging.getLogger(__name__)
T = TypeVar("T")
RowListener = Callable[[dict[str, Any]], None]


class SessionExpired(RuntimeError):
    """The broker session is gone: nothing can be sent until the trader logs in again."""


@dataclass(frozen=True)
class EngineConfig:
    #: Broker requests in flight at once (the worker pool's size; a request only takes a
    #: worker once the rate budget granted it, so this bounds concurrency, not throughput).
    broker_threads: int = 16
    #: Order-book read interval while orders work and no stream carries order updates.
    poll_interval_s: float = 0.5
    #: Safety-net order-book read interval while the stream is up.
    stream_poll_interval_s: float = 5.0
    #: How long to wait for a cancel to show as terminal before giving up on that child.
    cancel_timeout_s: float = 5.0
    #: How long an ambiguous attempt's tag is watched for a late order after it was re-sent.
    late_order_watch_s: float = 900.0
    #: The oldest quote a child may be priced from.
    max_quote_age_s: float = 2.0
    #: How long a child waits for a fresh quote before it is given up (not sent).
    quote_wait_s: float = 10.0
    #: A MARKET child still resting this long (Kite's market protection turns it into a limit
    #: at the band) is cancelled; the rest goes back to the parent.
    market_rest_s: float = 5.0
    #: Override the broker's own rate limits (``broker.rate_limits``), e.g. in benchmarks.
    rate_limits: AccountRateLimits | None = None
    #: Seed for parent ids (tests and benchmarks); None draws them from the OS.
    id_seed: int | None = None


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
        self.mode = mode
        self.clock: Clock = clock or getattr(broker, "clock", None) or RealClock()
        self.tracker = tracker
        self.planner = planner or ExecutionAlgoPlanner()
        self.router = router or SmartOrderRouter(primary_route=getattr(broker, "name", "primary"))
        self.retry_policy = retry_policy or RetryPolicy()
        self.config = cfg = config or EngineConfig()
        self.rows = RowFactory(self.clock, mode, self.router.primary_route)
        self._listeners: list[RowListener] = []
        self._ids = random.Random(cfg.id_seed) if cfg.id_seed is not None else None
        self._parents: dict[str, ParentState] = {}
        self._permits: dict[str, SendPermit] = {}
        self._permits_lock = threading.Lock()
        self._closed = False
        self.session_lost: str | None = None
        self._services_stopping: asyncio.Task[None] | None = None

        limits = cfg.rate_limits or getattr(broker, "rate_limits", None)
        self.budget = RateBudget(limits, max_in_flight=cfg.broker_threads,
                                 wall_time=self.clock.now)
        self.gateway = BrokerGateway(self.budget, on_session_lost=self._on_session_lost)
        self.orders = OrderTracker(
            clock=self.clock, gateway=self.gateway, read_book=broker.orders,
            cancel_order=broker.cancel_order, rows=self.rows, emit=self._emit,
            retry_policy=self.retry_policy,
            is_active=lambda p: self._parents.get(p.parent_id) is p,
            config=TrackerConfig(poll_interval_s=cfg.poll_interval_s,
                                 stream_poll_interval_s=cfg.stream_poll_interval_s,
                                 late_order_watch_s=cfg.late_order_watch_s))
        self._stream: Any = None
        quote_stream: QuoteStream | None = None
        if getattr(broker, "local_market_data", False):
            quote_stream = LocalQuoteStream(lambda symbol, exchange:
                                            broker.quote(symbol, exchange), self.clock)
        rest = (getattr(broker, "quotes", None) or quotes_one_by_one(broker.quote)) \
            if quote_stream is None else None
        self.market_data = MarketDataService(
            self.clock, gateway=self.gateway, rest_quotes=rest, stream=quote_stream,
            config=MarketDataConfig(max_age_s=cfg.max_quote_age_s))
        self.placer = Placer(
            broker=broker, gateway=self.gateway, market_data=self.market_data,
            tracker=self.orders, router=self.router, slippage=slippage or SlippageModel(),
            retry_policy=self.retry_policy, rows=self.rows, emit=self._emit, clock=self.clock,
            config=PlacementConfig(quote_wait_s=cfg.quote_wait_s))

        self._loop = self.clock.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="imperium-exec-engine",
                                        daemon=True)
        self._thread.start()
        self._loop.call_soon_threadsafe(self._start_services)

    # ------------------------------------------------------------------ public (any thread)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def add_listener(self, listener: RowListener) -> None:
        """Call ``listener(row)`` on the engine thread for every row, after it is written."""
        self._listeners.append(listener)

    def submit(
        self, request: ExecutionRequest,
    ) -> tuple[str, concurrent.futures.Future[ExecutionResult]]:
        """Plan ``request`` now (raising ``ValueError`` for a plan that cannot be made) and hand
        it to the engine. Returns at once with the parent id and a future of the result."""
        if self.session_lost is not None:
            raise SessionExpired(self.session_lost)
        if self._closed:
            raise RuntimeError("the execution engine is shut down")
        parent_id = self._new_parent_id()
        seed = request.seed if request.seed is not None else zlib.crc32(parent_id.encode())
        planned_at = self.clock.now()
        plan = self.planner.plan(request, now=planned_at, seed=seed,
                                 session_seconds=self.broker.session_seconds)
        future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        permit = SendPermit()
        with self._permits_lock:
            self._permits[parent_id] = permit
        self._loop.call_soon_threadsafe(self._start_parent, parent_id, request, plan, seed,
                                        permit, future)
        return parent_id, future

    def cancel(self, parent_id: str) -> None:
        """Cancel one parent: from this moment it sends no new order."""
        with self._permits_lock:
            permit = self._permits.get(parent_id)
        if permit is not None:
            permit.revoke("parent cancelled")
        self._loop.call_soon_threadsafe(self._cancel_parent, parent_id)

    def cancel_all(self) -> None:
        """Kill switch: from the moment this returns no new order is sent; resting children
        are cancelled at the front of the write queue."""
        with self._permits_lock:
            permits = list(self._permits.values())
        for permit in permits:
            permit.revoke("kill switch")
        self._loop.call_soon_threadsafe(self._cancel_all)

    def pause(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self._pause_parent, parent_id)

    def resume(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self._resume_parent, parent_id)

    def watch_quotes(self, keys: list[str]) -> None:
        """Keep ``keys`` ("NFO:SYMBOL") fresh for the desk (its chain); any thread."""
        self.market_data.subscribe_threadsafe(self._loop, keys)

    def unwatch_quotes(self, keys: list[str]) -> None:
        self.market_data.unsubscribe_threadsafe(self._loop, keys)

    def desk_request(self, func: Callable[..., T], *args: Any, timeout: float = 30.0) -> T:
        """Run a broker read for the desk (e.g. an instruments dump) under the account's rate
        budget, at the desk's priority. Blocks the calling thread (never the GUI's: call it from
        a worker) until it is done; the wait for budget happens on the engine's loop."""
        future = asyncio.run_coroutine_threadsafe(
            self.gateway.call(RequestKind.DESK_READ, func, *args), self._loop)
        return future.result(timeout)

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
        with self._permits_lock:
            permits = list(self._permits.values())
        for permit in permits:
            permit.revoke("engine shut down")
        drained = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
        try:
            drained.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("engine shutdown: parents still working after %.1f s", timeout)
            drained.cancel()
            forced = asyncio.run_coroutine_threadsafe(self._force_finish(), self._loop)
            try:
                forced.result(10.0)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.error("engine shutdown: could not end every parent")
        stopped = asyncio.run_coroutine_threadsafe(self._stop_services(), self._loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            stopped.result(5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self.gateway.close()
        if self.tracker is not None:
            self.tracker.sync()

    # ------------------------------------------------------------------ loop plumbing

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    def _start_services(self) -> None:
        opener = getattr(self.broker, "open_stream", None)
        if opener is not None:
            handlers = StreamHandlers(on_quote=self._on_stream_quote,
                                      on_order=self.orders.on_update,
                                      on_state=self._on_stream_state,
                                      on_session_lost=self.gateway.lose_session)
            self._stream = opener(handlers, self.gateway)
            if self._stream is not None:
                self.market_data.stream = self._stream
                self._stream.start()
        self.market_data.start()
        self.orders.start()

    async def _stop_services(self) -> None:
        """Idempotent: a lost session stops them early, shutdown again."""
        if self._stream is not None:
            await self._stream.stop()
        await self.market_data.stop()
        await self.orders.stop()

    def _on_stream_quote(self, key: str, quote: Quote) -> None:
        self.market_data.on_quote(key, quote, QuoteSource.STREAM)

    def _on_stream_state(self, connected: bool) -> None:
        self.market_data.on_stream_state(connected)
        self.orders.on_stream_state(connected)

    def _new_parent_id(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        if self._ids is not None:
            return "".join(self._ids.choice(alphabet) for _ in range(10))
        raw = os.urandom(10)
        return "".join(alphabet[b % len(alphabet)] for b in raw)

    async def _drain(self) -> None:
        self._cancel_all()
        futures = [p.future for p in self._parents.values()]
        if futures:
            await asyncio.wait([asyncio.wrap_future(f) for f in futures])
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.orders.refresh(), 5.0)  # late watches see the end

    async def _force_finish(self) -> None:
        """Shutdown ran out of time: one more order-book read (it may settle the children
        still waiting for a cancel), then end every parent; their finish writes what may still
        be live, and every handle resolves."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.orders.refresh(), 3.0)
        tasks = []
        for parent in list(self._parents.values()):
            if parent.task is not None:
                parent.task.cancel()
                tasks.append(parent.task)
        await asyncio.gather(*tasks, return_exceptions=True)
        for parent in list(self._parents.values()):  # a parent whose task never ran
            self._finish(parent)

    # ------------------------------------------------------------------ rows

    def _emit(self, row: dict[str, Any]) -> None:
        if self.tracker is not None:
            try:
                self.tracker.append(row)
            except Exception:  # a full disk or a closed journal must not stop execution
                log.exception("telemetry write failed; row: %s", row)
        for listener in self._listeners:
            try:
                listener(row)
            except Exception:
                log.exception("telemetry listener failed")

    # ------------------------------------------------------------------ the session

    def _on_session_lost(self, reason: str) -> None:
        """The first token error: nothing more goes out; tell the desk once; end every parent
        (their rows say which orders may still be live)."""
        if self.session_lost is not None:
            return
        self.session_lost = reason
        live = self.orders.working_order_ids()
        live += [f"tag {c.tag}" for p in self._parents.values() for c in p.children
                 if c.in_flight and c.tag is not None]
        live += [f"tag {tag}" for tag in self.orders.watched_tags()]
        self._emit(self.rows.session_row(reason, live))
        for parent in self._parents.values():
            parent.failure = parent.failure or reason
            parent.permit.revoke(reason)
            parent.changed.set()
        self._services_stopping = self._loop.create_task(self._stop_services())

    # ------------------------------------------------------------------ parent lifecycle

    def _start_parent(self, parent_id: str, request: ExecutionRequest, plan: ExecutionPlan,
                      seed: int, permit: SendPermit,
                      future: concurrent.futures.Future[ExecutionResult]) -> None:
        if self._closed or self.session_lost is not None:  # never start it
            self._drop_permit(parent_id)
            future.set_exception(SessionExpired(self.session_lost) if self.session_lost
                                 else RuntimeError("the execution engine is shut down"))
            return
        parent = ParentState(parent_id=parent_id, request=request, plan=plan,
                             arrival_price=request.mid, future=future, permit=permit)
        parent.children = [ChildState(c.index, c.slice_index, c.quantity, c.send_at)
                           for c in plan.children]
        parent.child_numbers = len(parent.children)
        if permit.revoked:  # cancelled before it reached the loop
            parent.cancel_requested = True
        self._parents[parent_id] = parent
        parent.task = self._loop.create_task(self._run_parent(parent, seed),
                                             name=f"parent-{parent_id}")

    async def _run_parent(self, parent: ParentState, seed: int) -> None:
        req = parent.request
        key = instrument_key(req.exchange, req.tradingsymbol)
        self.market_data.subscribe([key])
        try:
            await self._execute(parent, seed)
        except Exception as exc:  # a bug must still end the parent with a row, never hang it
            log.exception("parent %s crashed", parent.parent_id)
            parent.failure = f"internal error: {exc!r}"
            try:
                await self._cancel_working(parent)
            except Exception:
                log.exception("parent %s: cancelling after the crash failed", parent.parent_id)
        finally:
            self.market_data.unsubscribe([key])
            self._finish(parent)

    async def _execute(self, parent: ParentState, seed: int) -> None:
        req = parent.request
        first = await self.placer.price(parent) if not parent.stopping else None
        if first is not None and first.quote.mid is not None:
            parent.arrival_price = first.quote.mid
        algorithm = algorithm_for(req.execution_algo)
        parent.plan = algorithm.before_first_slice(
            parent, first.quote if first else None,
            Replanner(self.planner, self.broker.session_seconds, seed))
        # The schedule starts when the parent could first act (a price in hand), not when it
        # was planned: the time spent waiting shifts every slice and the end.
        parent.shift_s = max(0.0, self.clock.now() - parent.plan.start_at)
        self._emit(self.rows.parent_row(
            parent, EventKind.ACCEPTED, quantity=req.quantity,
            message=f"{parent.plan.slice_count} slice(s) from "
                    f"{epoch_to_iso(parent.plan.start_at + parent.shift_s)} to "
                    f"{epoch_to_iso(parent.end_at)}"))
        for warning in parent.plan.warnings:
            self._emit(self.rows.parent_row(parent, EventKind.WARNING, message=warning))

        slices = sorted({c.slice_index for c in parent.children})
        position = 0
        while position < len(slices) and not parent.stopping:
            slice_index = slices[position]
            planned = [c for c in parent.children
                       if c.slice_index == slice_index and c.status is ChildStatus.SCHEDULED]
            position += 1
            if not planned:
                continue
            await self._wait_until(parent, planned[0].send_at)
            if parent.stopping:
                break
            # A fresh price first (the wait may be long when market data stalls) ...
            if await self.placer.price(parent) is None and not needs_no_quote(parent):
                if parent.stopping:
                    break
                for child in planned:
                    self.placer.give_up(parent, child)
                continue
            # ... then slices that fell due while this one waited go out with it, as one
            # child (split only by the freeze quantity), not back to back.
            while position < len(slices) and self._due(parent, slices[position]):
                planned += [c for c in parent.children if c.slice_index == slices[position]
                            and c.status is ChildStatus.SCHEDULED]
                position += 1
            batch = await self._prepare_slice(parent, algorithm, planned)
            final_slice = position == len(slices)
            for child in batch:
                await parent.hold_while_paused()
                if parent.stopping:
                    break
                await self.placer.send(parent, child, final_slice=final_slice)

        await self._await_completion(parent)

    def _due(self, parent: ParentState, slice_index: int) -> bool:
        send_at = min((c.send_at for c in parent.children if c.slice_index == slice_index),
                      default=float("inf"))
        return send_at + parent.shift_s <= self.clock.now()

    async def _prepare_slice(self, parent: ParentState, algorithm: Algorithm,
                             planned: list[ChildState]) -> list[ChildState]:
        """Fix this slice's children: the algorithm sizes it (rolling in returned quantity,
        or from the market for an algorithm that sizes at run time), the freeze splits it."""
        req = parent.request
        if req.execution_algo.is_scheduled and parent.working > 0:
            # A slice replaces what earlier slices left resting: cancel what the broker still
            # shows open (from the stream, or a fresh shared read without one), then send it
            # again with this slice at the current price (TWAP/VWAP/IS/POV catch-up).
            if not self.orders.stream_up:
                await self.orders.refresh()
            await self._cancel_working(parent)
        planned_qty = sum(c.quantity for c in planned)
        later = [c for c in parent.children
                 if c.status is ChildStatus.SCHEDULED and c not in planned]
        free = parent.remaining - sum(c.quantity for c in later)
        quote = None
        if parent.plan.dynamic_sizing:
            held = await self.placer.price(parent)  # the market as the slice falls due
            quote = held.quote if held else None
        target = algorithm.size_slice(parent, DueSlice(planned, later, free, quote))
        if target == planned_qty and len(planned) == len(
                split_by_freeze(planned_qty, req.lot_size, req.max_order_quantity)):
            return planned
        # Re-cut the slice: drop the planned children, append freshly split ones. They take
        # the numbers of the children they replace (a number never seen in a row is free), so
        # "child i of n" stays true; only a cut needing more children than it replaced adds
        # numbers (and raises n).
        for child in planned:
            parent.children.remove(child)
        if target <= 0:
            return []
        sizes = split_by_freeze(target, req.lot_size, req.max_order_quantity)
        numbers = sorted(c.index for c in planned)[:len(sizes)]
        while len(numbers) < len(sizes):
            numbers.append(parent.child_numbers)
            parent.child_numbers += 1
        fresh = [ChildState(number, planned[0].slice_index, qty, planned[0].send_at)
                 for number, qty in zip(numbers, sizes, strict=True)]
        parent.children.extend(fresh)
        parent.children.sort(key=lambda c: (c.slice_index, c.index))
        return fresh

    async def _await_completion(self, parent: ParentState) -> None:
        """After the last slice: wait for working children until filled or the window ends.
        A MARKET child resting at the protection price is cancelled after ``market_rest_s``."""
        scheduled = parent.request.execution_algo.is_scheduled
        while not parent.stopping and parent.working > 0:
            now = self.clock.now()
            if scheduled and now >= parent.end_at:
                break
            deadlines = [parent.end_at] if scheduled else []
            resting_market = [c for c in parent.children if c.status is ChildStatus.WORKING
                              and c.decision is not None and c.placed_at is not None
                              and c.decision.order_type is OrderType.MARKET]
            overdue = [c for c in resting_market
                       if now - (c.placed_at or now) >= self.config.market_rest_s]
            if overdue:
                left = sum(c.leaves for c in overdue)
                parent.note = (f"MARKET child rested at the market-protection price for "
                               f"{self.config.market_rest_s:g} s (the book was thinner than "
                               f"the order): cancelled; {left} unfilled")
                break
            deadlines += [(c.placed_at or now) + self.config.market_rest_s
                          for c in resting_market]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            await parent.wait_changed(timeout)
        await self._cancel_working(parent)

    async def _wait_until(self, parent: ParentState, send_at: float) -> None:
        """Sleep until this slice's send time (shifted by pauses); wake early on cancel."""
        while not parent.stopping:
            if parent.paused_at is not None:
                await parent.wait_changed(None)
                continue
            delay = send_at + parent.shift_s - self.clock.now()
            if delay <= 0:
                return
            await parent.wait_changed(delay)

    async def _cancel_working(self, parent: ParentState) -> None:
        """Cancel every working child of ``parent`` (cancels go first in the write queue) and
        wait until the stream or the shared order book confirms.

        A cancel that fails is sent again on the next pass; a child whose cancel is still
        unconfirmed after ``cancel_timeout_s`` is not waited on again (its order stays
        followed after the parent finishes, and the finished row says it may still be live)."""
        started = self.clock.now()
        deadline = started + self.config.cancel_timeout_s
        while True:
            waiting = [c for c in parent.children
                       if c.status is ChildStatus.WORKING and not c.cancel_abandoned]
            if not waiting:
                return
            if self.session_lost is not None or self.clock.now() >= deadline:
                for child in waiting:
                    child.cancel_abandoned = True
                return
            sends = [self._cancel_child(c) for c in waiting if not c.cancel_requested]
            if sends:
                # Bounded: cancels go first in the write queue, but a full window still waits.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*sends),
                                           max(0.0, deadline - self.clock.now()))
                if all(c.status is not ChildStatus.WORKING for c in waiting):
                    return  # confirmed while the cancels were on their way
            # The stream confirms within milliseconds; without one, or when its update is
            # slow to come, the shared book read does.
            if not self.orders.stream_up or self.clock.now() - started >= 1.0:
                self.orders.request_refresh()
            await parent.wait_changed(max(0.0, min(self.config.poll_interval_s,
                                                   deadline - self.clock.now())))

    async def _cancel_child(self, child: ChildState) -> None:
        assert child.order_id is not None
        try:
            await self.gateway.call(RequestKind.CANCEL, self.broker.cancel_order,
                                    child.order_id)
            child.cancel_requested = True
        except NotSent:
            return
        except Exception as exc:
            # Refused because the order already ended: the next update or read ends the
            # child. Anything else (a throttle, a 5xx, "being processed. Try later.") is sent
            # again on the next pass.
            log.info("cancel of %s failed: %r", child.order_id, exc)
            if cancel_refused_as_ended(exc):
                child.cancel_requested = True
            self.orders.request_refresh()

    def _finish(self, parent: ParentState) -> None:
        if self._parents.get(parent.parent_id) is not parent:
            return  # already finished
        req = parent.request
        if parent.failure is not None:
            parent.status = ParentStatus.FAILED
        elif parent.filled >= req.quantity:
            parent.status = ParentStatus.FILLED
        elif parent.cancel_requested:
            parent.status = ParentStatus.CANCELLED
        else:
            parent.status = ParentStatus.PARTIAL
        for child in parent.children:
            self._finish_child(parent, child)
        unfilled = req.quantity - parent.filled
        message = parent.failure or parent.note
        unknown = [c.order_id or f"tag {c.tag}" for c in parent.children
                   if c.status is ChildStatus.UNKNOWN]
        if unknown:
            message = (f"{message}; " if message else "") + \
                f"may still be live at the broker: {', '.join(unknown)}"
        if unfilled < 0:
            message = f"overfilled by {-unfilled} (late order from a timed-out attempt)"
        self._emit(self.rows.parent_row(
            parent, EventKind.FINISHED, quantity=req.quantity, filled_quantity=parent.filled,
            average_price=parent.average_price or None, message=message,
            realized_slippage=slippage(parent, parent.average_price),
            realized_slippage_bps=slippage_bps(parent, parent.average_price)))
        if self.tracker is not None:
            try:
                self.tracker.sync()
            except OSError:
                log.exception("telemetry sync failed")
        result = ExecutionResult(
            parent_id=parent.parent_id, status=parent.status, quantity=req.quantity,
            filled_quantity=parent.filled, unfilled_quantity=max(0, unfilled),
            average_price=parent.average_price,
            order_ids=tuple(c.order_id for c in parent.children if c.order_id),
            children=tuple(ChildResult(c.index + 1, c.quantity, c.filled, c.average_price,
                                       str(c.status), c.order_id, c.attempt, c.tag)
                           for c in parent.children),
            message=message)
        del self._parents[parent.parent_id]
        self._drop_permit(parent.parent_id)
        if not parent.future.done():
            parent.future.set_result(result)

    def _finish_child(self, parent: ParentState, child: ChildState) -> None:
        """Every child ends with one terminal row; nothing unknown is written as "not sent"."""
        if child.status is ChildStatus.SCHEDULED:
            if child.in_flight or self.orders.is_watched(child):
                child.status = ChildStatus.UNKNOWN
                if child.in_flight and child.tag is not None:
                    self.orders.watch_late(parent, child, child.tag)
                watched = (f"not re-sent; tag {child.tag} is watched and any order it placed "
                           "is cancelled or reported") if not self._closed else (
                    f"not re-sent; the engine is shutting down: look for tag {child.tag} in "
                    "the broker's order book")
                self._emit(self.rows.child_row(
                    parent, child, EventKind.ERROR, "unknown", error_bucket="transient",
                    error=f"outcome unknown: attempt {child.tag} may have reached the broker",
                    message=watched))
                return
            child.status = ChildStatus.CANCELLED
            why = parent.permit.reason or parent.failure or "parent ended"
            self._emit(self.rows.child_row(parent, child, EventKind.CANCELLED, "cancelled",
                                           message=f"not sent: {why}"))
        elif child.status is ChildStatus.WORKING:
            child.status = ChildStatus.UNKNOWN
            if self.session_lost is not None:
                error = f"session lost while order {child.order_id} was working"
            else:
                error = (f"cancel of order {child.order_id} not confirmed within "
                         f"{self.config.cancel_timeout_s:g} s")
            self._emit(self.rows.child_row(
                parent, child, EventKind.ERROR, "unknown", error_bucket="transient",
                error=error, filled_quantity=child.filled,
                message="the order may still be live: check the broker's order book"))
            if self.session_lost is None and child.tag is not None:
                self.orders.follow_after_finish(parent, child)

    def _drop_permit(self, parent_id: str) -> None:
        with self._permits_lock:
            self._permits.pop(parent_id, None)

    # ------------------------------------------------------------------ controls (loop thread)

    def _cancel_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is not None and not parent.cancel_requested:
            parent.cancel_requested = True
            parent.permit.revoke("parent cancelled")
            parent.changed.set()

    def _cancel_all(self) -> None:
        for parent_id in list(self._parents):
            self._cancel_parent(parent_id)

    def _pause_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is None or parent.paused_at is not None or parent.stopping:
            return
        parent.paused_at = self.clock.now()
        parent.status = ParentStatus.PAUSED
        self._emit(self.rows.parent_row(parent, EventKind.PAUSED))
        parent.changed.set()

    def _resume_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is None or parent.paused_at is None:
            return
        paused_for = self.clock.now() - parent.paused_at
        parent.shift_s += paused_for
        parent.paused_at = None
        parent.status = ParentStatus.WORKING
        self._emit(self.rows.parent_row(parent, EventKind.RESUMED,
                                        message=f"schedule shifted by {paused_for:.1f} s"))
        parent.changed.set()


__all__ = ["ChildResult", "EngineConfig", "ExecutionEngine", "ExecutionResult", "SessionExpired"]
