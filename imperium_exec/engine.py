"""ExecutionEngine: runs parents on its own asyncio loop, in its own thread, with no Qt.

Ownership: every ParentState and ChildState is created, read and changed on the engine thread
only. Other threads talk to the engine through :meth:`submit`, :meth:`cancel`, :meth:`pause`,
:meth:`resume` and :meth:`shutdown`, which hop onto the loop with ``call_soon_threadsafe``.
Blocking broker calls run in a bounded thread pool and are awaited, so a slow broker delays only
the child it serves, never the schedule of others and never the GUI.

Accounting: a parent's quantity is always ``filled + working + remaining``. A child that ends
cancelled or rejected gives its unfilled quantity back to ``remaining``; scheduled algorithms
roll it into their next slice. Every child ends in a terminal row (filled, cancelled, rejected,
error) and every parent in a ``finished`` row, which is also what resolves the caller's handle.
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
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .brokers.base import Broker, BrokerOrder, OrderInstruction, OrderStatus, Quote
from .clock import Clock, RealClock
from .events import EventKind, ParentStatus, make_row
from .planner import (
    ExecutionAlgoPlanner,
    ExecutionPlan,
    pov_child_quantity,
    split_by_freeze,
)
from .request import ExecutionAlgo, ExecutionRequest
from .retry import ErrorClass, RetryPolicy
from .router import RouteDecision, SmartOrderRouter
from .slippage import SlippageModel
from .state import (
    ChildResult,
    ChildState,
    ChildStatus,
    ExecutionResult,
    LateOrderWatch,
    ParentState,
    child_tag,
)
from .telemetry import FillQualityTracker
from .timeutil import epoch_to_iso

log = logging.getLogger(__name__)
T = TypeVar("T")
RowListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class EngineConfig:
    #: Worker threads for blocking broker calls (kiteconnect allows 10 order requests/s).
    broker_threads: int = 4
    #: How often working children are checked against the broker's order book.
    poll_interval_s: float = 0.5
    #: How long to wait for a cancel to show as terminal before giving up on that child.
    cancel_timeout_s: float = 10.0
    #: How long an ambiguous attempt's tag is watched for a late order after it was re-sent.
    late_order_watch_s: float = 900.0
    #: How old the last good quote may be to stand in for a failed one.
    stale_quote_s: float = 5.0
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
        self.slippage = slippage or SlippageModel()
        self.retry_policy = retry_policy or RetryPolicy()
        self.config = config or EngineConfig()
        self._listeners: list[RowListener] = []
        self._ids = random.Random(self.config.id_seed) if self.config.id_seed is not None else None
        self._parents: dict[str, ParentState] = {}
        self._last_quotes: dict[tuple[str, str], Quote] = {}
        self._poller: asyncio.Task[None] | None = None
        self._late: dict[str, LateOrderWatch] = {}
        self._refresh_lock = asyncio.Lock()  # one order-book refresh at a time
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.config.broker_threads, thread_name_prefix="imperium-broker")
        self._loop = self.clock.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="imperium-exec-engine",
                                        daemon=True)
        self._closed = False
        self._thread.start()

    # ------------------------------------------------------------------ public (any thread)

    def add_listener(self, listener: RowListener) -> None:
        """Call ``listener(row)`` on the engine thread for every row, after it is written."""
        self._listeners.append(listener)

    def submit(
        self, request: ExecutionRequest,
    ) -> tuple[str, concurrent.futures.Future[ExecutionResult]]:
        """Plan ``request`` now (raising ``ValueError`` for a plan that cannot be made) and hand
        it to the engine. Returns at once with the parent id and a future of the result."""
        if self._closed:
            raise RuntimeError("the execution engine is shut down")
        parent_id = self._new_parent_id()
        seed = request.seed if request.seed is not None else zlib.crc32(parent_id.encode())
        planned_at = self.clock.now()
        plan = self.planner.plan(request, now=planned_at, seed=seed,
                                 session_seconds=self.broker.session_seconds)
        future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._start_parent, parent_id, request, plan, seed,
                                        planned_at, future)
        return parent_id, future

    def cancel(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self._cancel_parent, parent_id)

    def cancel_all(self) -> None:
        self._loop.call_soon_threadsafe(self._cancel_all)

    def pause(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self._pause_parent, parent_id)

    def resume(self, parent_id: str) -> None:
        self._loop.call_soon_threadsafe(self._resume_parent, parent_id)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Cancel every working parent, wait for their final rows, stop the thread.

        Parents still working after ``timeout`` are ended anyway, with error rows for children
        whose cancel the broker never confirmed, so every handle resolves."""
        if self._closed:
            return
        self._closed = True
        drained = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
        try:
            drained.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("engine shutdown: parents still working after %.1f s", timeout)
            forced = asyncio.run_coroutine_threadsafe(self._force_finish(), self._loop)
            try:
                forced.result(5.0)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.error("engine shutdown: could not end every parent")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.tracker is not None:
            self.tracker.sync()

    # ------------------------------------------------------------------ loop plumbing

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _call(self, func: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._pool, func, *args)

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
        await self._stop_poller()

    async def _force_finish(self) -> None:
        """Shutdown ran out of time: end every parent now (its finally writes the rows,
        unconfirmed children get their loud error row, the handles resolve)."""
        tasks = []
        for parent in list(self._parents.values()):
            parent.failure = parent.failure or "engine shut down before every cancel was confirmed"
            if parent.task is not None:
                parent.task.cancel()
                tasks.append(parent.task)
        await asyncio.gather(*tasks, return_exceptions=True)
        for parent in list(self._parents.values()):  # a parent whose task never ran
            self._finish(parent)
        await self._stop_poller()

    async def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)

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

    def _parent_row(self, parent: ParentState, event: EventKind, **extra: Any) -> dict[str, Any]:
        now = self.clock.now()
        req = parent.request
        fields: dict[str, Any] = dict(
            timestamp=epoch_to_iso(now), ts=now, event=str(event), mode=self.mode,
            parent_id=parent.parent_id, tradingsymbol=req.tradingsymbol, exchange=req.exchange,
            side=str(req.side), order_type=str(req.order_type),
            execution_algo=str(req.execution_algo),
            execution_urgency=str(req.execution_urgency), children=len(parent.children),
            arrival_price=parent.arrival_price, parent_quantity=req.quantity,
            parent_filled_quantity=parent.filled, status=str(parent.status),
            route=self.router.primary_route,
        )
        fields.update(extra)
        return make_row(**fields)

    def _child_row(self, parent: ParentState, child: ChildState, event: EventKind,
                   status: str, **extra: Any) -> dict[str, Any]:
        decision = child.decision
        fields: dict[str, Any] = dict(
            child_id=f"{parent.parent_id}-{child.index + 1}", child_index=child.index + 1,
            quantity=child.quantity, tag=child.tag, order_id=child.order_id,
            attempt=child.attempt, send_at=child.send_at, mid_at_send=child.mid_at_send,
            limit_price=decision.limit_price if decision else None,
            queue_priority=str(decision.queue_priority) if decision else None,
            route=decision.route if decision else self.router.primary_route,
            expected_slippage=child.expected_slippage, impact_estimate=child.impact_estimate,
            expected_cost_bps=child.expected_cost_bps, latency_ms=child.latency_ms,
            status=status,
        )
        fields.update(extra)
        return self._parent_row(parent, event, **fields)

    # ------------------------------------------------------------------ parent lifecycle

    def _start_parent(self, parent_id: str, request: ExecutionRequest, plan: ExecutionPlan,
                      seed: int, planned_at: float,
                      future: concurrent.futures.Future[ExecutionResult]) -> None:
        if self._closed:  # submitted while shutdown was draining: never start it
            future.set_exception(RuntimeError("the execution engine is shut down"))
            return
        parent = ParentState(parent_id=parent_id, request=request, plan=plan,
                             arrival_price=request.mid, future=future)
        parent.children = [ChildState(c.index, c.slice_index, c.quantity, c.send_at)
                           for c in plan.children]
        # The plan was made on the caller's thread; time it waited to start shifts it.
        parent.shift_s = max(0.0, self.clock.now() - planned_at)
        self._parents[parent_id] = parent
        parent.task = self._loop.create_task(self._run_parent(parent, seed),
                                             name=f"parent-{parent_id}")

    async def _run_parent(self, parent: ParentState, seed: int) -> None:
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
            self._finish(parent)

    async def _execute(self, parent: ParentState, seed: int) -> None:
        req = parent.request
        first_quote = await self._quote(req)
        if first_quote is not None and first_quote.mid is not None:
            parent.arrival_price = first_quote.mid
        if req.execution_algo is ExecutionAlgo.POV:
            parent.plan = self._replan_with_forecast(parent, first_quote, seed)
        self._emit(self._parent_row(parent, EventKind.ACCEPTED, quantity=req.quantity,
                                    message=f"{parent.plan.slice_count} slice(s) from "
                                            f"{epoch_to_iso(parent.plan.start_at)} to "
                                            f"{epoch_to_iso(parent.plan.end_at)}"))
        for warning in parent.plan.warnings:
            self._emit(self._parent_row(parent, EventKind.WARNING, message=warning))

        slices = sorted({c.slice_index for c in parent.children})
        for position, slice_index in enumerate(slices):
            planned = [c for c in parent.children
                       if c.slice_index == slice_index and c.status is ChildStatus.SCHEDULED]
            if not planned:
                continue
            await self._wait_until(parent, planned[0].send_at)
            if self._stopping(parent):
                break
            quote = first_quote if position == 0 else await self._quote(req)
            batch = await self._prepare_slice(parent, planned, quote)
            final_slice = position == len(slices) - 1
            for child in batch:
                await self._hold_while_paused(parent)
                if self._stopping(parent):
                    break
                await self._send_child(parent, child, quote, final_slice)
            if self._stopping(parent):
                break

        await self._await_completion(parent)

    def _stopping(self, parent: ParentState) -> bool:
        return parent.cancel_requested or parent.failure is not None

    async def _hold_while_paused(self, parent: ParentState) -> None:
        while parent.paused_at is not None and not self._stopping(parent):
            await self._wait_changed(parent, None)

    async def _prepare_slice(self, parent: ParentState, planned: list[ChildState],
                             quote: Quote | None) -> list[ChildState]:
        """Fix this slice's children: roll in returned quantity, size POV from volume."""
        req = parent.request
        if req.execution_algo.is_scheduled:
            # A slice replaces what earlier slices left resting: cancel it, then send it again
            # with this slice at the current price (TWAP/VWAP/IS/POV catch-up).
            await self._cancel_working(parent)
        planned_qty = sum(c.quantity for c in planned)
        future = [c for c in parent.children
                  if c.status is ChildStatus.SCHEDULED and c not in planned]
        future_qty = sum(c.quantity for c in future)
        free = parent.remaining - future_qty  # this slice's plan plus quantity given back
        if req.execution_algo is ExecutionAlgo.POV:
            observed = self._observed_volume(parent, quote)
            remaining = max(0, parent.remaining)  # a late order's fills can overshoot
            target = (pov_child_quantity(req, observed, remaining)
                      if observed is not None else max(0, min(planned_qty, free)))
            self._trim_future(parent, future, target + future_qty - parent.remaining)
        elif req.execution_algo.is_scheduled:
            target = max(0, free)
        else:
            target = planned_qty
        if target == planned_qty:
            return planned
        # Re-cut the slice: drop the planned children, append freshly split ones.
        for child in planned:
            parent.children.remove(child)
        if target <= 0:
            return []
        next_index = max((c.index for c in parent.children), default=-1) + 1
        fresh = [ChildState(next_index + i, planned[0].slice_index, qty, planned[0].send_at)
                 for i, qty in enumerate(split_by_freeze(target, req.lot_size,
                                                         req.max_order_quantity))]
        parent.children.extend(fresh)
        parent.children.sort(key=lambda c: (c.slice_index, c.index))
        return fresh

    @staticmethod
    def _trim_future(parent: ParentState, future: list[ChildState], excess: int) -> None:
        """POV sent more than planned now: take the excess off the last planned slices."""
        for child in reversed(future):
            if excess <= 0:
                return
            cut = min(child.quantity, excess)
            child.quantity -= cut
            excess -= cut
            if child.quantity == 0:
                parent.children.remove(child)

    def _observed_volume(self, parent: ParentState, quote: Quote | None) -> float | None:
        if quote is None:
            return None
        previous = parent.last_volume
        parent.last_volume = quote.volume
        if previous is None:
            return None
        return float(max(0, quote.volume - previous))

    def _replan_with_forecast(self, parent: ParentState, quote: Quote | None,
                              seed: int) -> ExecutionPlan:
        forecast = self._forecast_volume(parent.plan, quote)
        if forecast is None and parent.plan.warnings:
            return parent.plan
        return self.planner.plan(parent.request, now=parent.plan.start_at, seed=seed,
                                 session_seconds=self.broker.session_seconds,
                                 expected_market_volume=forecast)

    def _forecast_volume(self, plan: ExecutionPlan, quote: Quote | None) -> float | None:
        """Market volume expected over the plan's window, from the session's volume so far."""
        if quote is None or quote.volume <= 0:
            return None
        curve = self.planner.volume_curve
        elapsed = self.broker.session_seconds(quote.timestamp)
        share_so_far = curve.fraction(0.0, elapsed)
        if share_so_far <= 0.01:
            return None
        start = self.broker.session_seconds(plan.start_at)
        end = start + (plan.end_at - plan.start_at)
        return quote.volume / share_so_far * curve.fraction(start, end)

    async def _await_completion(self, parent: ParentState) -> None:
        """After the last slice: wait for working children until filled or the window ends."""
        scheduled = parent.request.execution_algo.is_scheduled
        while not self._stopping(parent) and parent.working > 0:
            if scheduled and self.clock.now() >= parent.end_at:
                break
            timeout = max(0.0, parent.end_at - self.clock.now()) if scheduled else None
            await self._wait_changed(parent, timeout)
        await self._cancel_working(parent)

    async def _wait_until(self, parent: ParentState, send_at: float) -> None:
        """Sleep until this slice's send time (shifted by pauses); wake early on cancel."""
        while not self._stopping(parent):
            if parent.paused_at is not None:
                await self._wait_changed(parent, None)
                continue
            delay = send_at + parent.shift_s - self.clock.now()
            if delay <= 0:
                return
            await self._wait_changed(parent, delay)

    async def _wait_changed(self, parent: ParentState, timeout: float | None) -> None:
        parent.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(parent.changed.wait(), timeout)

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
        # Every child ends with a terminal row: those never sent, and those whose cancel the
        # broker did not confirm in time (they may still be live: say so, loudly).
        for child in parent.children:
            if child.status is ChildStatus.SCHEDULED:
                child.status = ChildStatus.CANCELLED
                watched = any(w.child is child for w in self._late.values())
                self._emit(self._child_row(
                    parent, child, EventKind.CANCELLED, "cancelled",
                    message="not sent again: an earlier attempt may have reached the broker "
                            "and its tag is watched" if watched else "not sent: parent ended"))
            elif child.status is ChildStatus.WORKING:
                child.status = ChildStatus.ERROR
                self._emit(self._child_row(
                    parent, child, EventKind.ERROR, "error", error_bucket="transient",
                    error=f"cancel of order {child.order_id} not confirmed within "
                          f"{self.config.cancel_timeout_s:g} s",
                    filled_quantity=child.filled,
                    message="the order may still be live: check the broker's order book"))
        unfilled = req.quantity - parent.filled
        message = parent.failure
        if unfilled < 0:
            message = f"overfilled by {-unfilled} (late order from a timed-out attempt)"
        self._emit(self._parent_row(
            parent, EventKind.FINISHED, quantity=req.quantity, filled_quantity=parent.filled,
            average_price=parent.average_price or None, message=message,
            realized_slippage=self._slippage(parent, parent.average_price),
            realized_slippage_bps=self._slippage_bps(parent, parent.average_price)))
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
                                       str(c.status), c.order_id, c.attempt)
                           for c in parent.children),
            message=message)
        del self._parents[parent.parent_id]
        if not parent.future.done():
            parent.future.set_result(result)

    # ------------------------------------------------------------------ controls (loop thread)

    def _cancel_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is not None and not parent.cancel_requested:
            parent.cancel_requested = True
            parent.changed.set()

    def _cancel_all(self) -> None:
        for parent_id in list(self._parents):
            self._cancel_parent(parent_id)

    def _pause_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is None or parent.paused_at is not None or self._stopping(parent):
            return
        parent.paused_at = self.clock.now()
        parent.status = ParentStatus.PAUSED
        self._emit(self._parent_row(parent, EventKind.PAUSED))
        parent.changed.set()

    def _resume_parent(self, parent_id: str) -> None:
        parent = self._parents.get(parent_id)
        if parent is None or parent.paused_at is None:
            return
        paused_for = self.clock.now() - parent.paused_at
        parent.shift_s += paused_for
        parent.paused_at = None
        parent.status = ParentStatus.WORKING
        self._emit(self._parent_row(parent, EventKind.RESUMED,
                                    message=f"schedule shifted by {paused_for:.1f} s"))
        parent.changed.set()

    # ------------------------------------------------------------------ children

    async def _quote(self, req: ExecutionRequest) -> Quote | None:
        """The live book; on a failed quote (a throttle, a network error) the last good one if
        it is fresh enough, else None (the router then prices from the request's book)."""
        key = (req.exchange, req.tradingsymbol)
        try:
            quote = await self._call(self.broker.quote, req.tradingsymbol, req.exchange)
        except Exception as exc:
            last = self._last_quotes.get(key)
            if last is not None and self.clock.now() - last.timestamp <= self.config.stale_quote_s:
                log.info("quote for %s failed (%r): using the one from %.1f s ago",
                         req.tradingsymbol, exc, self.clock.now() - last.timestamp)
                return last
            log.warning("quote for %s failed: %r", req.tradingsymbol, exc)
            return None
        if quote is not None:
            self._last_quotes[key] = quote
        return quote

    async def _send_child(self, parent: ParentState, child: ChildState, quote: Quote | None,
                          final_slice: bool) -> None:
        req = parent.request
        retries = 0
        while True:
            await self._hold_while_paused(parent)
            if self._stopping(parent):
                return
            child.attempt += 1
            child.tag = child_tag(parent.parent_id, child.index, child.attempt)
            decision = self.router.decide(req, quote, final_slice=final_slice)
            self._estimate(parent, child, decision)
            instruction = OrderInstruction(
                tradingsymbol=req.tradingsymbol, exchange=req.exchange, side=req.side,
                quantity=child.quantity, order_type=decision.order_type,
                limit_price=decision.limit_price, product=req.product, validity=req.validity,
                tag=child.tag, market_protection=decision.market_protection,
                tick_size=req.tick_size)
            started = time.perf_counter()
            try:
                order_id = await self._call(self.broker.place_order, instruction)
            except Exception as exc:
                child.latency_ms = (time.perf_counter() - started) * 1e3
                error = self.retry_policy.classify(exc)
                if error.ambiguous and await self._reconcile(parent, child, instruction, error,
                                                              exc):
                    return
                if error.ambiguous:
                    self._watch_late_order(parent, child, child.tag)
                if self.retry_policy.allows_retry(error, retries):
                    delay = self.retry_policy.backoff_s(error.bucket, retries)
                    self._emit(self._error_row(parent, child, EventKind.RETRY, "retry", error,
                                               exc, f"retrying in {delay:.2f} s"))
                    retries += 1
                    await self._wait_changed_or_stop(parent, delay)
                    quote = await self._quote(req) or quote
                    continue
                child.status = ChildStatus.ERROR
                self._emit(self._error_row(parent, child, EventKind.ERROR, "error", error, exc,
                                           None))
                parent.failure = f"child {child.index + 1}: {error.bucket} error: {exc}"
                parent.changed.set()
                return
            child.latency_ms = (time.perf_counter() - started) * 1e3
            self._mark_placed(parent, child, order_id)
            return

    async def _wait_changed_or_stop(self, parent: ParentState, delay: float) -> None:
        deadline = self.clock.now() + delay
        while not self._stopping(parent) and self.clock.now() < deadline:
            await self._wait_changed(parent, deadline - self.clock.now())

    def _estimate(self, parent: ParentState, child: ChildState, decision: RouteDecision) -> None:
        req = parent.request
        window = max(0.0, parent.plan.end_at - parent.plan.start_at)
        horizon = window / max(1, parent.plan.slice_count) if window else None
        participation = req.participation_rate
        forecast = parent.plan.expected_market_volume
        if forecast and window:
            participation = min(1.0, child.quantity / max(forecast * (horizon or window) / window,
                                                           1.0))
        estimate = self.slippage.estimate(
            reference_price=parent.arrival_price, bid=decision.bid, ask=decision.ask,
            queue_priority=decision.queue_priority, participation=participation,
            horizon_s=horizon)
        child.decision = decision
        child.mid_at_send = decision.mid
        child.expected_slippage = estimate.expected_slippage
        child.impact_estimate = estimate.impact_estimate
        child.expected_cost_bps = estimate.expected_cost_bps

    def _error_row(self, parent: ParentState, child: ChildState, event: EventKind, status: str,
                   error: ErrorClass, exc: BaseException, message: str | None) -> dict[str, Any]:
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        return self._child_row(parent, child, event, status, error_bucket=str(error.bucket),
                               error=f"{type(exc).__name__}: {text}", ambiguous=error.ambiguous,
                               message=message or error.reason)

    def _mark_placed(self, parent: ParentState, child: ChildState, order_id: str) -> None:
        child.order_id = order_id
        child.status = ChildStatus.WORKING
        self._emit(self._child_row(parent, child, EventKind.PLACED, "placed"))
        self._ensure_poller()

    async def _reconcile(self, parent: ParentState, child: ChildState,
                         instruction: OrderInstruction, error: ErrorClass,
                         exc: BaseException) -> bool:
        """Look for an ambiguous attempt's tag in the order book before anything is re-sent."""
        policy = self.retry_policy
        deadline = self.clock.now() + policy.reconcile_window_s
        while True:
            try:
                book = await self._call(self.broker.orders)
            except Exception as poll_exc:
                log.warning("reconcile poll failed: %r", poll_exc)
                book = []
            match = next((o for o in book if o.tag == instruction.tag
                          and o.tradingsymbol == instruction.tradingsymbol
                          and o.side is instruction.side and o.quantity == instruction.quantity),
                         None)
            if match is not None:
                self._emit(self._error_row(parent, child, EventKind.RECONCILED, "placed", error,
                                           exc, f"found order {match.order_id} by tag "
                                                f"{instruction.tag}; not re-sent"))
                self._mark_placed(parent, child, match.order_id)
                return True
            if self.clock.now() >= deadline or self._stopping(parent):
                return False
            await self._wait_changed_or_stop(parent, policy.reconcile_interval_s)

    async def _cancel_working(self, parent: ParentState) -> None:
        """Cancel every working child of ``parent`` and wait until the broker confirms.

        A cancel request that fails is sent again on the next pass; a child whose cancel is
        still unconfirmed after ``cancel_timeout_s`` is not waited on again (the poller keeps
        tracking its fills, and the parent's final row says it may still be live)."""
        deadline = self.clock.now() + self.config.cancel_timeout_s
        while True:
            waiting = [c for c in parent.children
                       if c.status is ChildStatus.WORKING and not c.cancel_abandoned]
            if not waiting:
                return
            for child in waiting:
                if child.cancel_requested or child.order_id is None:
                    continue
                try:
                    await self._call(self.broker.cancel_order, child.order_id)
                    child.cancel_requested = True
                except Exception as exc:  # e.g. throttled: try again on the next pass
                    log.info("cancel of %s failed: %r", child.order_id, exc)
            await self._refresh()
            if self.clock.now() >= deadline:
                for child in waiting:
                    if child.status is ChildStatus.WORKING:
                        child.cancel_abandoned = True
                return
            if any(c.status is ChildStatus.WORKING for c in waiting):
                await asyncio.sleep(min(self.config.poll_interval_s, 0.25))

    # ------------------------------------------------------------------ order-book polling

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = self._loop.create_task(self._poll_orders(), name="order-poller")

    def _has_watch(self) -> bool:
        return bool(self._late) or any(c.status is ChildStatus.WORKING
                                       for p in self._parents.values() for c in p.children)

    async def _poll_orders(self) -> None:
        while self._has_watch():
            await asyncio.sleep(self.config.poll_interval_s)
            try:
                await self._refresh()
            except Exception:  # the poller must outlive any one bad snapshot
                log.exception("order book refresh failed")

    async def _refresh(self) -> None:
        """Fetch the order book once and apply it: fills, terminal states, late orders.
        Serialized: the poller and a parent cancelling its children never interleave."""
        async with self._refresh_lock:
            try:
                book = await self._call(self.broker.orders)
            except Exception as exc:
                log.warning("order book poll failed: %r", exc)
                return
            by_id = {o.order_id: o for o in book}
            for parent in list(self._parents.values()):
                touched = False
                for child in parent.children:
                    if child.status is ChildStatus.WORKING and child.order_id in by_id:
                        touched |= self._apply_order(parent, child, by_id[child.order_id])
                if touched:
                    parent.changed.set()
            if self._late:
                by_tag = {o.tag: o for o in book if o.tag}
                for watch in list(self._late.values()):
                    await self._check_late_order(watch, by_tag.get(watch.tag))

    def _apply_order(self, parent: ParentState, child: ChildState, order: BrokerOrder) -> bool:
        changed = False
        if order.filled_quantity > child.filled:
            increment = order.filled_quantity - child.filled
            value_now = order.average_price * order.filled_quantity
            price = (value_now - child.filled_value) / increment
            child.filled = order.filled_quantity
            child.filled_value = value_now
            parent.filled += increment
            parent.filled_value += price * increment
            complete = child.filled >= child.quantity
            if complete:
                child.status = ChildStatus.FILLED
            self._emit(self._child_row(
                parent, child, EventKind.FILLED, "filled" if complete else "partially_filled",
                filled_quantity=increment, fill_price=price,
                realized_slippage=self._slippage(parent, price),
                realized_slippage_bps=self._slippage_bps(parent, price),
                average_price=child.average_price))
            changed = True
        if order.status.is_terminal and child.status is ChildStatus.WORKING:
            if order.status is OrderStatus.REJECTED:
                error = self.retry_policy.classify_rejection(order.status_message)
                child.status = ChildStatus.REJECTED
                self._emit(self._child_row(
                    parent, child, EventKind.REJECTED, "rejected", error_bucket=str(error.bucket),
                    error=order.status_message or "rejected", filled_quantity=child.filled,
                    message=f"{child.leaves} returned to the parent"))
                parent.failure = f"child {child.index + 1} rejected: {order.status_message}"
            elif order.status is OrderStatus.COMPLETE:
                # COMPLETE with fewer fills than asked: the order book is the truth, and the
                # unfilled rest goes back to the parent like a cancel's.
                child.status = ChildStatus.CANCELLED
                self._emit(self._child_row(
                    parent, child, EventKind.CANCELLED, "cancelled", filled_quantity=child.filled,
                    message=f"broker reported COMPLETE at {child.filled}/{child.quantity}; "
                            f"{child.leaves} returned to the parent"))
            else:
                child.status = ChildStatus.CANCELLED
                self._emit(self._child_row(
                    parent, child, EventKind.CANCELLED, "cancelled", filled_quantity=child.filled,
                    message=f"{child.leaves} returned to the parent"))
            changed = True
        return changed

    def _watch_late_order(self, parent: ParentState, child: ChildState, tag: str) -> None:
        self._late[tag] = LateOrderWatch(tag, parent, child, since=self.clock.now())
        self._ensure_poller()

    async def _check_late_order(self, watch: LateOrderWatch, order: BrokerOrder | None) -> None:
        """An ambiguous attempt that was re-sent may still have reached the broker: cancel its
        order if it turns up live, and report (and, while the parent works, count) its fills."""
        parent, child = watch.parent, watch.child
        if order is None:
            if self.clock.now() - watch.since > self.config.late_order_watch_s:
                del self._late[watch.tag]
            return
        active = self._parents.get(parent.parent_id) is parent
        notes: list[str] = []
        if not watch.seen:
            watch.seen = True
            notes.append(f"late order {order.order_id} from tag {watch.tag} turned up")
        if not order.status.is_terminal and not watch.cancel_sent:
            try:
                await self._call(self.broker.cancel_order, order.order_id)
                watch.cancel_sent = True
                notes.append("cancel sent")
            except Exception as exc:
                notes.append(f"cancel failed ({exc}); will try again")
        increment = order.filled_quantity - watch.counted
        price: float | None = None
        if increment > 0:
            value_now = order.average_price * order.filled_quantity
            price = (value_now - watch.counted_value) / increment
            watch.counted, watch.counted_value = order.filled_quantity, value_now
            if active:
                parent.filled += increment
                parent.filled_value += price * increment
                parent.changed.set()
                notes.append(f"{increment} filled and counted")
            else:
                notes.append(f"{increment} filled after the parent finished: the position is "
                             f"{increment} more than its finished row says")
        if order.status.is_terminal:
            del self._late[watch.tag]
        if notes:
            self._emit(self._child_row(
                parent, child, EventKind.GHOST, str(order.status).lower(),
                order_id=order.order_id, tag=watch.tag,
                filled_quantity=increment if increment > 0 else None, fill_price=price,
                message="; ".join(notes)))

    def _slippage(self, parent: ParentState, price: float) -> float | None:
        if parent.arrival_price is None or not price:
            return None
        return parent.request.side.sign * (price - parent.arrival_price)

    def _slippage_bps(self, parent: ParentState, price: float) -> float | None:
        slip = self._slippage(parent, price)
        if slip is None or not parent.arrival_price:
            return None
        return slip / parent.arrival_price * 1e4


__all__ = ["ChildResult", "EngineConfig", "ExecutionEngine", "ExecutionResult"]
