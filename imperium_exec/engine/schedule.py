"""Running one parent's schedule: wait for each slice, price it, size it, send its children.

The schedule starts when the parent could first act (a price in hand), not when it was planned;
pauses shift every later slice and the end. Each slice that falls due waits for a fresh price
(or is given up), takes along the slices that fell due while it waited, re-prices what earlier
slices left resting (scheduled algorithms send it again with this slice at the current price),
is sized by the parent's algorithm (:mod:`imperium_exec.algos`) and split at the freeze quantity.

Re-pricing a resting child: where the broker offers modify, the slice is sized as if the
resting children had been cancelled (their unfilled units count as returned), then each resting
child takes one of the slice's orders by one modify of its price and quantity (the order's new
total: what filled before the slice stays filled), or by none when nothing changed; the slice's
planned children it stands in for are not sent. A child the modify does not fit, or whose
modify is refused, is cancelled (confirmed) and what is left of the slice goes out as new
children, sized again from what is free then, so a fill that raced the re-price is never
counted twice nor sent again. Without modify (or for a basket's leg), a slice cancels what rests
first, then sends it again.
After the last slice the parent waits for its working children until they fill or the window
ends (a MARKET child resting at the market-protection price is cancelled after
``market_rest_s``), then cancels what still works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..algos.base import Algorithm, DueSlice, Replanner
from ..algos.plan import split_by_freeze
from ..algos.planner import ExecutionAlgoPlanner
from ..algos.registry import algorithm_for
from ..brokers.base import Broker
from ..clock import Clock
from ..events import ChildStatus, EventKind
from ..request import MAX_ORDERS_PER_PARENT, OrderType
from ..timeutil import epoch_to_iso
from .cancelling import ChildCanceller
from .event_factory import EventFactory
from .order_tracker import OrderTracker
from .placement import Emit, Modified, Placer, needs_no_quote
from .state import ChildState, ParentState


class ScheduleRunner:
    """Runs parents' schedules on the engine's loop, one call of :meth:`run` per parent."""

    def __init__(self, *, broker: Broker, planner: ExecutionAlgoPlanner, placer: Placer,
                 orders: OrderTracker, canceller: ChildCanceller, events: EventFactory,
                 emit: Emit, clock: Clock, market_rest_s: float) -> None:
        #: Told ``(parent_id, n)`` when a slice's re-price leaves ``n`` of its planned
        #: placements unsent (the admission's reservations).
        self.on_unplanned: Callable[[str, int], None] | None = None
        self.broker = broker
        self.planner = planner
        self.placer = placer
        self.orders = orders
        self.canceller = canceller
        self.events = events
        self._emit = emit
        self.clock = clock
        self.market_rest_s = market_rest_s

    async def run(self, parent: ParentState, seed: int) -> None:
        """Run ``parent``'s schedule to its end (its working children cancelled after it);
        ``seed`` is the plan's, for a plan made again once the first price is in hand."""
        req = parent.request
        first = await self.placer.price(parent) if not parent.stopping else None
        if first is not None and first.quote.mid is not None:
            parent.arrival_price = first.quote.mid
        parent.arrived_at = self.clock.now()
        parent.fills_before_arrival = self.placer.estimator.desk_fills.count
        if parent.underlying_key is not None:
            parent.underlying_price = self.placer.market_data.price_at_hand(
                parent.underlying_key)
        algorithm = algorithm_for(req.execution_algo)
        parent.plan = algorithm.before_first_slice(
            parent, first.quote if first else None,
            Replanner(self.planner, self.broker.session_seconds, seed))
        # The schedule starts when the parent could first act (a price in hand), not when it
        # was planned: the time spent waiting shifts every slice and the end.
        parent.shift_s = max(0.0, self.clock.now() - parent.plan.start_at)
        curve = parent.plan.volume_curve
        self._emit(self.events.parent_event(
            parent, EventKind.ACCEPTED, quantity=req.quantity,
            underlying_price=parent.underlying_price, request=req.model_dump_json(),
            slippage_fit=self.placer.estimator.slippage.fit,
            message=f"{parent.plan.slice_count} slice(s) from "
                    f"{epoch_to_iso(parent.plan.start_at + parent.shift_s)} to "
                    f"{epoch_to_iso(parent.end_at)}"
                    + (f"; volume curve: {curve.name}" if curve is not None else "")))
        for warning in parent.plan.warnings:
            self._emit(self.events.parent_event(parent, EventKind.WARNING, message=warning))

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
            final = position == len(slices)
            batch = await self._prepare_slice(parent, algorithm, planned, final_slice=final)
            await self._send(parent, batch, final_slice=final)

        await self._await_completion(parent, algorithm)

    async def _send(self, parent: ParentState, batch: list[ChildState], *,
                    final_slice: bool) -> bool:
        """Send a slice's children one after another, each after the basket's gate. False:
        it stopped before the last (the parent stops, or its basket stopped this leg)."""
        for child in batch:
            await parent.hold_while_paused()
            if parent.stopping:
                return False
            if parent.basket is not None and not await parent.basket.gate.wait_turn(
                    parent, child):
                return False  # the basket stopped: it cancels this leg
            await self.placer.send(parent, child, final_slice=final_slice)
        return True

    def _due(self, parent: ParentState, slice_index: int) -> bool:
        """Whether the slice's send time (shifted by pauses) has come."""
        send_at = min((c.send_at for c in parent.children if c.slice_index == slice_index),
                      default=float("inf"))
        return send_at + parent.shift_s <= self.clock.now()

    async def _prepare_slice(self, parent: ParentState, algorithm: Algorithm,
                             planned: list[ChildState], *,
                             final_slice: bool = False) -> list[ChildState]:
        """Fix this slice's children: the algorithm sizes it (rolling in returned quantity,
        or from the market for an algorithm that sizes at run time), the freeze splits it;
        what earlier slices left resting is re-priced (module docstring)."""
        req = parent.request
        resting: list[ChildState] = []
        if algorithm.scheduled and parent.working > 0:
            # A slice replaces what earlier slices left resting (from the stream, or a fresh
            # shared read without one): re-priced in place where the broker offers modify,
            # else cancelled and sent again with this slice at the current price
            # (TWAP/VWAP/IS/POV catch-up).
            if not self.orders.stream_up:
                await self.orders.refresh()
            working = [c for c in parent.children if c.status is ChildStatus.WORKING]
            resting = [c for c in working if self.placer.can_modify(parent, c)]
            others = [c for c in working if all(c is not r for r in resting)]
            for child in others:
                child.replaced_because = child.replaced_because or \
                    self.placer.not_modified_because(parent, child)
            await self.canceller.cancel_working(parent, others if resting else None)
        quote = None
        if parent.plan.dynamic_sizing:
            held = await self.placer.price(parent)  # the market as the slice falls due
            quote = held.quote if held else None
        resting = [c for c in resting if c.status is ChildStatus.WORKING]
        # Sized as if the resting children were cancelled: their unfilled units are free.
        for child in resting:
            child.set_aside = True
        try:
            planned_qty = sum(c.quantity for c in planned)
            later = [c for c in parent.children
                     if c.status is ChildStatus.SCHEDULED and c not in planned]
            free = parent.remaining - sum(c.quantity for c in later)
            target = algorithm.size_slice(parent, DueSlice(planned, later, free, quote))
        finally:
            for child in resting:
                child.set_aside = False
        if resting:
            return await self._reprice(parent, resting, planned, target,
                                       final_slice=final_slice)
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
        return self._recut(parent, planned, target)

    def _recut(self, parent: ParentState, planned: list[ChildState],
               target: int) -> list[ChildState]:
        """Fresh children for ``target`` units in place of ``planned`` (already removed),
        split at the freeze quantity, taking their numbers (more only when needed)."""
        req = parent.request
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

    async def _reprice(self, parent: ParentState, resting: list[ChildState],
                       planned: list[ChildState], target: int, *,
                       final_slice: bool) -> list[ChildState]:
        """This slice of ``target`` units over the ``resting`` children first, each re-priced
        by one modify to one of the slice's orders; what they do not take goes out as new
        children in place of the ``planned`` ones (see the module docstring)."""
        req = parent.request
        assert planned, "a slice has planned children"
        for child in planned:
            parent.children.remove(child)
        sizes = split_by_freeze(target, req.lot_size, req.max_order_quantity) \
            if target > 0 else []
        # Each resting child takes the largest order its fills leave room for (the order's
        # new total may not pass the freeze quantity).
        pairs: list[tuple[ChildState, int, int]] = []  # (child, its order's new total, units)
        dropped: list[ChildState] = []
        for child in sorted(resting, key=lambda c: c.index):
            fits = [size for size in sizes if child.filled + size <= req.max_order_quantity]
            if not fits:
                dropped.append(child)  # nothing of the slice for it: cancelled
                continue
            sizes.remove(fits[0])
            pairs.append((child, child.filled + fits[0], fits[0]))
        outcomes = await asyncio.gather(
            *(self.placer.modify(parent, child, total, final_slice=final_slice)
              for child, total, _ in pairs),
            self.canceller.cancel_working(parent, dropped))
        covered = 0
        refused: list[ChildState] = []
        for (child, _, units), outcome in zip(pairs, outcomes[:len(pairs)], strict=True):
            if outcome is Modified.MODIFIED or outcome is Modified.UNCHANGED:
                covered += units
            else:
                refused.append(child)
        if parent.stopping:
            return []
        if refused:  # cancelled (confirmed) before their units go out again as new orders
            await self.canceller.cancel_working(parent, refused)
            if parent.stopping:
                return []
        # The rest of the slice, from what is free now: fills that raced the re-price and
        # the units the cancels returned are in the parent's figures already.
        later = sum(c.quantity for c in parent.children if c.status is ChildStatus.SCHEDULED)
        units = min(target - covered, parent.remaining - later)
        units = max(0, units) // req.lot_size * req.lot_size
        fresh = self._recut(parent, planned, units) if units > 0 else []
        unsent = len(planned) - len(fresh)
        if unsent > 0 and self.on_unplanned is not None:
            self.on_unplanned(parent.parent_id, unsent)
        return fresh

    async def _await_completion(self, parent: ParentState, algorithm: Algorithm) -> None:
        """After the last slice: send what the algorithm asks for as fills and time go by,
        and wait for working children until filled or the window ends. A MARKET child resting
        at the protection price is cancelled after ``market_rest_s``."""
        scheduled = algorithm.scheduled
        while not parent.stopping:
            now = self.clock.now()
            if scheduled and now >= parent.end_at:
                break
            reaction = algorithm.react(parent, now)
            batch = self._new_slice(parent, reaction.send) if reaction.send > 0 else []
            if batch:
                if not await self._send(parent, batch, final_slice=False):
                    break  # stopped (or its basket stopped it): nothing more goes out
                continue
            if parent.working <= 0 and reaction.wake_at is None:
                break
            deadlines = [parent.end_at] if scheduled else []
            if reaction.wake_at is not None:
                deadlines.append(reaction.wake_at)
            resting_market = [c for c in parent.children if c.status is ChildStatus.WORKING
                              and c.decision is not None and c.placed_at is not None
                              and c.decision.order_type is OrderType.MARKET]
            overdue = [c for c in resting_market
                       if now - (c.placed_at or now) >= self.market_rest_s]
            if overdue:
                left = sum(c.leaves for c in overdue)
                parent.note = (f"MARKET child rested at the market-protection price for "
                               f"{self.market_rest_s:g} s (the book was thinner than "
                               f"the order): cancelled; {left} unfilled")
                break
            deadlines += [(c.placed_at or now) + self.market_rest_s
                          for c in resting_market]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            await parent.wait_changed(timeout)
        await self.canceller.cancel_working(parent)

    def _new_slice(self, parent: ParentState, quantity: int) -> list[ChildState]:
        """Children for ``quantity`` more units that an algorithm's reaction asks for (never
        more than the parent has left, nor past the orders one parent may send), split at
        the freeze quantity, numbered after the parent's last child and due now. None when
        there is nothing to send."""
        req = parent.request
        units = min(quantity, max(0, parent.remaining)) // req.lot_size * req.lot_size
        sizes = split_by_freeze(units, req.lot_size, req.max_order_quantity)
        if parent.child_numbers + len(sizes) > MAX_ORDERS_PER_PARENT:
            parent.note = (f"its algorithm asked for more than the {MAX_ORDERS_PER_PARENT} "
                           "orders one parent may send")
            return []
        slice_index = max((c.slice_index for c in parent.children), default=-1) + 1
        now = self.clock.now() - parent.shift_s
        fresh = []
        for size in sizes:
            fresh.append(ChildState(parent.child_numbers, slice_index, size, now))
            parent.child_numbers += 1
        parent.children.extend(fresh)
        return fresh

    async def _wait_until(self, parent: ParentState, send_at: float) -> None:
        """Sleep until this slice's send time (shifted by pauses); wake early on cancel, or
        when another leg of the parent's basket waits for this one."""
        while not parent.stopping:
            if parent.paused_at is not None:
                await parent.wait_changed(None)
                continue
            delay = send_at + parent.shift_s - self.clock.now()
            if delay <= 0:
                return
            if parent.basket is not None and parent.basket.gate.pulls_forward(parent):
                return
            await parent.wait_changed(delay)
