"""OrderTracker: what the broker says about our orders, for every parent at once.

Two sources, one set of rules:

- **Order updates** pushed by the broker's stream (Kite's order postbacks on the ticker socket):
  fills and terminal states arrive within milliseconds, for every parent.
- **The order book**, read once for all parents as a safety net: after a reconnect (updates are
  lost while the socket is down and never replayed), when someone needs the truth now (an
  ambiguous placement, a cancel to confirm, shutdown), and otherwise at a slow interval while
  the stream is up (``stream_poll_interval_s``) or a quick one without a stream
  (``poll_interval_s``). Reads are serialized and spaced (``min_read_gap_s``): forty parents
  asking at once share one read.

Applying an order snapshot is idempotent and monotonic: fills only grow, a terminal state is
final, so an update and a book read may arrive in any order. Fills are reported as increments,
each with its own price (from the change in the order's average price).

Tags: every attempt's tag is looked up here too. An ambiguous placement waits for its tag
(:meth:`OrderTracker.find_by_tag`); an attempt that was re-sent keeps being watched
(:meth:`OrderTracker.watch_late`): a late order is cancelled if still open, and its fills are
reported (and counted into the parent while it works).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..brokers.base import BrokerOrder, OrderStatus
from ..clock import Clock
from ..costs.charges import ChargeSchedule, default_charges
from ..events import ChildStatus, Event, EventKind, Status
from ..retry import RetryPolicy
from ..timeutil import IST
from .event_factory import EventFactory, slippage, slippage_bps
from .gateway import BrokerGateway, NotSent
from .rate_budget import RequestKind
from .state import ChildState, LateOrderWatch, ParentState

log = logging.getLogger(__name__)

#: How many reconcile windows a tag is looked for at most when no book read answers after the
#: first window (an unreadable book): then the attempt is taken as not placed.
GIVE_UP_WINDOWS = 4

Emit = Callable[[Event], None]
TagMatch = Callable[[BrokerOrder], bool]


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    #: Order-book read interval while orders are working and no stream carries updates.
    poll_interval_s: float = 0.5
    #: Safety-net read interval while the stream is up.
    stream_poll_interval_s: float = 5.0
    #: Smallest gap between two reads, however many parents ask.
    min_read_gap_s: float = 0.2
    #: How long a re-sent ambiguous attempt's tag is watched for a late order.
    late_order_watch_s: float = 900.0
    #: Stream updates kept for orders we do not know yet (a placement whose reply is still on
    #: its way) and tags seen, for reconciliation.
    remember: int = 5_000


def fill_since(order: BrokerOrder, filled_before: int,
               value_before: float) -> tuple[int, float] | None:
    """What ``order`` filled since we last saw ``filled_before`` units worth ``value_before``:
    the new units and their own price (from the change in the order's average price), or None.
    """
    increment = order.filled_quantity - filled_before
    if increment <= 0:
        return None
    return increment, (order.filled_value - value_before) / increment


class OrderTracker:
    """Working children by order id, late-order watches by tag; fed by stream and book."""

    def __init__(self, *, clock: Clock, gateway: BrokerGateway,
                 read_book: Callable[[], list[BrokerOrder]],
                 cancel_order: Callable[[str], None], events: EventFactory, emit: Emit,
                 retry_policy: RetryPolicy, is_active: Callable[[ParentState], bool],
                 config: TrackerConfig | None = None,
                 charges: ChargeSchedule | None = None) -> None:
        self.clock = clock
        self.config = config or TrackerConfig()
        self.charges = charges or default_charges()
        #: Told of every fill (parent, child, units, price), after its row, a held parent's
        #: too: the markouts and the desk's fills on the instrument.
        self.on_fill: Callable[[ParentState, ChildState, int, float], None] | None = None
        #: Told of every fill of a late order (a re-sent attempt's earlier order that turned
        #: up: parent, units), after its ghost row: the desk's fills on the instrument.
        self.on_late_fill: Callable[[ParentState, int], None] | None = None
        #: The parent's underlying index now (a fill row's ``underlying_price``), if known.
        self.underlying_now: Callable[[ParentState], float | None] | None = None
        self._gateway = gateway
        self._read_book = read_book
        self._cancel_order = cancel_order
        self._events = events
        self._emit = emit
        self._retry_policy = retry_policy
        self._is_active = is_active
        self._working: dict[str, tuple[ParentState, ChildState]] = {}
        self._late: dict[str, LateOrderWatch] = {}
        self._unmatched: OrderedDict[str, BrokerOrder] = OrderedDict()
        self._by_tag: OrderedDict[str, BrokerOrder] = OrderedDict()
        #: Orders the last book read held in a terminal state: the next read passes over them
        #: while no child, late watch or tag lookup follows them (the book holds the whole
        #: day's orders; applying each again on every read made a read's cost grow over the
        #: day). Only the last read's: a new day's book holds none of yesterday's.
        self._settled: set[str] = set()
        self._tag_waiters: dict[str, tuple[TagMatch, asyncio.Future[BrokerOrder | None]]] = {}
        self.stream_up = False
        self._wake = asyncio.Event()
        self._read_done = asyncio.Event()
        self._reads_started = 0
        self._reads_done = 0
        self._refresh_wanted = 0  # the read number someone is waiting for
        self._last_read_end = float("-inf")
        #: When the newest book read that answered was asked for (loop time): a tag looked
        #: for is only given up once a read asked for after its window has not shown it.
        self._good_read_asked = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        #: Book reads made, and orders from them applied, for tests and benchmarks.
        self.book_reads = 0
        self.book_orders_applied = 0

    # ------------------------------------------------------------------ lifecycle (loop)

    def start(self) -> None:
        """(Again after a lost session's stop, once the trader logged in again.)"""
        self._stopped = False
        if self._read_done.is_set():  # (set by the stop: waiters would spin on it)
            self._read_done = asyncio.Event()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="orders")

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._read_done.set()
        for _, waiter in self._tag_waiters.values():
            if not waiter.done():
                waiter.set_result(None)  # not found: the caller watches the tag, never hangs

    # ------------------------------------------------------------------ registry

    def track(self, parent: ParentState, child: ChildState,
              seen: BrokerOrder | None = None) -> None:
        """``child`` was placed: follow its order, applying what is known of it already (an
        update that came before the placement's reply, or the order found by its tag)."""
        assert child.order_id is not None
        self._working[child.order_id] = (parent, child)
        early = self._unmatched.pop(child.order_id, None)
        for known in (seen, early):
            if known is not None and child.order_id in self._working:
                self._apply(known)
        self._wake.set()

    def watch_late(self, parent: ParentState, child: ChildState, tag: str) -> None:
        """An ambiguous attempt is re-sent (or abandoned): its order may still turn up."""
        self._late[tag] = LateOrderWatch(tag, parent, child, since=self.clock.now(),
                                         attempt=child.attempt)
        seen = self._by_tag.get(tag)
        if seen is not None:
            self._check_late(self._late[tag], seen)
        self._wake.set()

    def follow_after_finish(self, parent: ParentState, child: ChildState) -> None:
        """``child``'s parent is finishing while its order may still be live (a cancel never
        confirmed): keep following the order by its tag, reporting later fills as extra
        position, instead of changing a finished parent."""
        assert child.tag is not None
        if child.order_id is not None:
            self._working.pop(child.order_id, None)
        watch = LateOrderWatch(child.tag, parent, child, since=self.clock.now(),
                               attempt=child.attempt, order_id=child.order_id, seen=True,
                               cancel_sent=child.cancel_requested, counted=child.filled,
                               counted_value=child.filled_value)
        self._late[child.tag] = watch
        self._wake.set()

    def is_watched(self, child: ChildState) -> bool:
        return any(w.child is child for w in self._late.values())

    def late_units(self, parent: ParentState, *, absent_for_s: float | None = None) -> int:
        """Units of ``parent`` whose ambiguous attempts are still watched for a late order:
        they may yet turn up and fill (what has filled of them is counted already).

        ``absent_for_s``: leave out attempts whose tag a complete order-book read begun at
        least that long after the watch began did not show (nothing of them ever turned up):
        taken as never placed, though still watched (a basket's short waits that long before
        it sends their units again)."""
        return sum(max(0, w.child.quantity - w.counted) for w in self._late.values()
                   if w.parent is parent and not (
                       absent_for_s is not None and not w.seen and w.absent_at is not None
                       and w.absent_at - w.since >= absent_for_s))

    def working_order_ids(self) -> list[str]:
        return sorted(self._working)

    def watched_tags(self) -> list[str]:
        return sorted(self._late)

    def report_unresolved(self) -> None:
        """The engine is stopping while tags are still watched: one ghost row each (status
        unknown) naming the tag, so the journal says which orders may still turn up or fill
        without it; the watches end."""
        for watch in self._late.values():
            if not watch.seen:
                state = "its order has not turned up"
            elif watch.cancel_sent:
                state = f"order {watch.order_id} is open: a cancel was sent, not confirmed"
            else:
                state = f"order {watch.order_id} is open"
            self._emit(self._ghost_row(
                watch, Status.UNKNOWN, f"the engine stopped while tag {watch.tag} was watched "
                f"for a late order ({state}): look for it in the broker's order book; fills "
                "after this are not in the journal"))
        self._late.clear()

    def _ghost_row(self, watch: LateOrderWatch, status: Status, message: str, *,
                   filled: int | None = None, price: float | None = None) -> Event:
        """A row about a watched tag: the attempt and order are the watched ones, not those
        of the child's latest attempt."""
        return self._events.child_event(
            watch.parent, watch.child, EventKind.GHOST, status, tag=watch.tag,
            order_id=watch.order_id, attempt=watch.attempt, filled_quantity=filled,
            fill_price=price, message=message)

    # ------------------------------------------------------------------ feeds

    def on_update(self, order: BrokerOrder) -> None:
        """An order update from the stream (loop thread)."""
        if order.order_id not in self._working:
            self._remember(self._unmatched, order.order_id, order, self.config.remember)
        self._apply(order)

    def on_stream_state(self, connected: bool) -> None:
        """Updates are lost while the stream is down: read the book once it is back."""
        self.stream_up = connected
        if connected:
            self.request_refresh()
        else:
            self._wake.set()

    def request_refresh(self) -> None:
        """Someone needs a read that starts from now on (it is shared with everyone else)."""
        self._refresh_wanted = max(self._refresh_wanted, self._reads_started + 1)
        self._wake.set()

    async def refresh(self) -> None:
        """Wait for a book read that starts after this call (shared)."""
        if self._stopped:
            return
        self.request_refresh()
        target = self._refresh_wanted
        while self._reads_done < target and not self._stopped:
            await self._read_done.wait()

    # ------------------------------------------------------------------ reconciliation

    async def find_by_tag(self, tag: str, matches: TagMatch, *, window_s: float,
                          interval_s: float, stop: Callable[[], bool]) -> BrokerOrder | None:
        """Look for ``tag`` in updates and book reads for ``window_s``: the order an ambiguous
        attempt may have placed. ``None`` when it did not show up: once the window is over
        *and* a book read asked for after it answered without it (a busy or failing book does
        not count as looked at), or at the latest after ``GIVE_UP_WINDOWS`` windows with no
        such read; or when ``stop()``."""
        seen = self._by_tag.get(tag)
        if seen is not None and matches(seen):
            return seen
        loop = asyncio.get_running_loop()
        found: asyncio.Future[BrokerOrder | None] = loop.create_future()
        self._tag_waiters[tag] = (matches, found)
        deadline = loop.time() + window_s
        give_up = loop.time() + GIVE_UP_WINDOWS * window_s
        try:
            while True:
                self.request_refresh()
                now = loop.time()
                if stop() or self._stopped:
                    return None
                if now >= deadline and (self._good_read_asked >= deadline or now >= give_up):
                    return None
                wait = min(interval_s, deadline - now) if now < deadline else interval_s
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(found), wait)
        finally:
            self._tag_waiters.pop(tag, None)

    # ------------------------------------------------------------------ reading the book

    def _has_watch(self) -> bool:
        return bool(self._working or self._late or self._tag_waiters
                    or self._refresh_wanted > self._reads_done)

    def _interval(self) -> float:
        return self.config.stream_poll_interval_s if self.stream_up \
            else self.config.poll_interval_s

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopped:
            timeout = self._interval() if self._has_watch() else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if not self._has_watch():
                continue
            gap = self._last_read_end + self.config.min_read_gap_s - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            try:
                await self._read_once()
            except NotSent:  # the session is gone: nothing more can be read
                self._stopped = True
                self._read_done.set()
                return
            except Exception:  # a bad snapshot must not stop tracking
                log.exception("applying the order book failed")

    async def _read_once(self) -> None:
        loop = asyncio.get_running_loop()
        self._reads_started += 1
        number = self._reads_started
        started = self.clock.now()
        asked = loop.time()
        try:
            book: list[BrokerOrder] | None = await self._gateway.call(
                RequestKind.BOOK_READ, self._read_book)
        except NotSent:
            raise
        except Exception as exc:
            log.warning("order book read failed: %r", exc)
            book = None
        finally:
            self._reads_done = number
            self._last_read_end = loop.time()
            self._read_done.set()
            self._read_done = asyncio.Event()
        self.book_reads += 1
        if book is None:
            return
        in_book: set[str] = set()
        settled: set[str] = set()
        for order in book:
            if order.tag:
                in_book.add(order.tag)
            if self._nothing_to_learn(order):
                settled.add(order.order_id)
                continue
            self._apply(order)
            self.book_orders_applied += 1
            if order.status.is_terminal:
                settled.add(order.order_id)
        self._settled = settled  # (a new day's book holds none of yesterday's orders)
        self._good_read_asked = max(self._good_read_asked, asked)
        now = self.clock.now()
        window = self.config.late_order_watch_s
        for tag, watch in list(self._late.items()):
            if tag not in in_book and not watch.seen:
                # Looked for in vain once more: a basket waiting on this attempt's outcome
                # (its short's cover) checks again how long that has been so.
                watch.absent_at = started
                if watch.parent.basket is not None:
                    watch.parent.basket.gate.changed.set()
            if tag not in in_book and now - watch.since > window:
                del self._late[tag]
                if watch.seen:  # its order was in the book once and has left it
                    self._emit(self._ghost_row(
                        watch, Status.UNKNOWN, f"order {watch.order_id} (tag {tag}) left the "
                        "order book while it was watched: check it with the broker"))
                else:
                    self._emit(self._ghost_row(
                        watch, Status.NOT_PLACED, f"tag {tag} did not turn up in the order book "
                        f"within {window:g} s: that attempt placed no order"))

    # ------------------------------------------------------------------ applying

    def _nothing_to_learn(self, order: BrokerOrder) -> bool:
        """An order an earlier read found settled, which no child, late watch or tag lookup
        follows now: applying it again would change nothing but its place among the tags
        remembered."""
        return (order.order_id in self._settled and order.order_id not in self._working
                and order.tag not in self._late and order.tag not in self._tag_waiters)

    @staticmethod
    def _remember(store: OrderedDict[str, BrokerOrder], key: str, order: BrokerOrder,
                  limit: int = 5_000) -> None:
        store[key] = order
        store.move_to_end(key)
        while len(store) > limit:
            store.popitem(last=False)

    def _apply(self, order: BrokerOrder) -> None:
        entry = self._working.get(order.order_id)
        if entry is not None:
            parent, child = entry
            if self.apply_order(parent, child, order):
                parent.notify()
            if child.status is not ChildStatus.WORKING:
                del self._working[order.order_id]
        if order.tag:
            self._remember(self._by_tag, order.tag, order, self.config.remember)
            waiter = self._tag_waiters.get(order.tag)
            if waiter is not None and not waiter[1].done() and waiter[0](order):
                waiter[1].set_result(order)
            watch = self._late.get(order.tag)
            if watch is not None:
                self._check_late(watch, order)

    def _fees(self, parent: ParentState, units: int, price: float, *,
              first: bool) -> float | None:
        """This fill's charges at the dated rates of its IST day (brokerage with the
        order's first fill)."""
        req = parent.request
        day = dt.datetime.fromtimestamp(self.clock.now(), IST).date()
        try:
            return self.charges.fill(day=day, exchange=req.exchange, side=req.side,
                                     units=units, price=price,
                                     first_fill_of_order=first).total
        except ValueError:  # an exchange the schedule has no rates for: not known
            return None

    def apply_order(self, parent: ParentState, child: ChildState, order: BrokerOrder) -> bool:
        """Bring ``child`` up to ``order``: fill increments, then a terminal state."""
        events = self._events
        changed = False
        new_fill = fill_since(order, child.filled, child.filled_value)
        if new_fill is not None:
            increment, price = new_fill
            child.filled, child.filled_value = order.filled_quantity, order.filled_value
            parent.filled += increment
            parent.filled_value += price * increment
            complete = child.filled >= child.quantity
            if complete:
                child.status = ChildStatus.FILLED
            fees = self._fees(parent, increment, price,
                              first=order.filled_quantity == increment)
            parent.fees += fees or 0.0
            self._emit(events.child_event(
                parent, child, EventKind.FILLED,
                Status.FILLED if complete else Status.PARTIALLY_FILLED,
                filled_quantity=increment, fill_price=price,
                realized_slippage=slippage(parent, price),
                realized_slippage_bps=slippage_bps(parent, price),
                average_price=child.average_price, fees=fees,
                underlying_price=self.underlying_now(parent)
                if self.underlying_now is not None else None))
            if self.on_fill is not None:
                self.on_fill(parent, child, increment, price)
            changed = True
        if order.status.is_terminal and child.status is ChildStatus.WORKING:
            if order.status is OrderStatus.REJECTED:
                error = self._retry_policy.classify_rejection(order.status_message)
                child.status = ChildStatus.REJECTED
                self._emit(events.child_event(
                    parent, child, EventKind.REJECTED, Status.REJECTED, error_bucket=error.bucket,
                    error=order.status_message or "rejected without a reason",
                    filled_quantity=child.filled,
                    message=f"{child.leaves} returned to the parent"))
                rejected = f"child {child.index + 1} rejected: {order.status_message}"
                if parent.recovered or parent.halted is not None:
                    parent.note = rejected  # held: the trader still decides what happens
                else:
                    parent.failure = rejected
            elif order.status is OrderStatus.COMPLETE:
                # COMPLETE with fewer fills than asked: the order book is the truth, and the
                # unfilled rest goes back to the parent like a cancel's.
                child.status = ChildStatus.CANCELLED
                self._emit(events.child_event(
                    parent, child, EventKind.CANCELLED, Status.CANCELLED,
                    filled_quantity=child.filled,
                    message=f"broker reported COMPLETE at {child.filled}/{child.quantity}; "
                            f"{child.leaves} returned to the parent"))
            else:
                child.status = ChildStatus.CANCELLED
                why = f" (re-priced by a new order: {child.replaced_because})" \
                    if child.replaced_because else ""
                self._emit(events.child_event(
                    parent, child, EventKind.CANCELLED, Status.CANCELLED,
                    filled_quantity=child.filled,
                    message=f"{child.leaves} returned to the parent{why}"))
            changed = True
        return changed

    def _check_late(self, watch: LateOrderWatch, order: BrokerOrder) -> None:
        """A re-sent attempt's order turned up: cancel it if it is open, report its fills."""
        parent = watch.parent
        active = self._is_active(parent)
        notes: list[str] = []
        watch.order_id = order.order_id
        if not watch.seen:
            watch.seen = True
            notes.append(f"late order {order.order_id} from tag {watch.tag} turned up")
        if not order.status.is_terminal and not watch.cancel_sent:
            watch.cancel_sent = True
            notes.append("cancelling it")
            asyncio.get_running_loop().create_task(self._cancel_late(watch, order.order_id))
        new_fill = fill_since(order, watch.counted, watch.counted_value)
        if new_fill is not None:
            increment, price = new_fill
            watch.counted, watch.counted_value = order.filled_quantity, order.filled_value
            if active:
                parent.filled += increment
                parent.filled_value += price * increment
                parent.notify()
                notes.append(f"{increment} filled and counted")
            else:
                notes.append(f"{increment} filled after the parent finished: the position is "
                             f"{increment} more than its finished row says")
        if order.status.is_terminal:
            self._late.pop(watch.tag, None)
        if notes:
            self._emit(self._ghost_row(
                watch, Status(order.status.lower()), "; ".join(notes),
                filled=new_fill[0] if new_fill else None,
                price=new_fill[1] if new_fill else None))
        if new_fill is not None and self.on_late_fill is not None:
            self.on_late_fill(parent, new_fill[0])

    async def _cancel_late(self, watch: LateOrderWatch, order_id: str) -> None:
        try:
            await self._gateway.call(RequestKind.CANCEL, self._cancel_order, order_id)
        except NotSent:
            return
        except Exception as exc:  # e.g. already complete, or throttled: the next sighting retries
            log.info("cancel of late order %s failed: %r", order_id, exc)
            watch.cancel_sent = False
        self.request_refresh()


__all__ = ["OrderTracker", "TrackerConfig"]
