"""RateBudget: one account-wide request budget, handed out by priority on the engine's loop.

Kite counts requests per account, per calendar second of its own clock: order writes (place,
modify, cancel) 10/s, 400/min and 5,000/day; quotes 1/s; every other GET 10/s. A request over a
limit is refused with HTTP 429 and still counts. So the stack never asks for more than the
budget allows, and when many parents want the same lane at once, the most urgent request goes
first: cancels, then modifications, then placements, then order-book reads, then the engine's
quotes and margin pre-checks, then the desk's reads.

How a slot is granted:

- Every lane counts the requests it let through, each from its grant until a window's span
  after it *ended*. A request may go when each of the lane's windows (a second, a minute)
  counts fewer than its limit. Kite counts a request when it arrives, which is between those
  two moments however slow the machine was to send it, so no calendar second at Kite can
  see more than the limit (the argument is in :class:`_Window`). A small padding
  (``window_padding_s``) is added for clock granularity.
- The day's write count resets at midnight IST; when it is used up, :meth:`RateBudget.slot`
  raises :class:`OrderLimitReached` at once instead of waiting until tomorrow. A modification
  is a write of the second and the minute but not of the day: Kite's day limit is on orders
  (a modification counts against its order's own limit instead, which the engine keeps).
- Waiting happens on the loop (an ``asyncio`` future per waiter), never in a worker thread.
  ``max_in_flight`` caps requests granted and not yet finished, and equals the size of the pool
  that runs the blocking calls: a granted request therefore always finds a free worker and goes
  out at once, so the time a request is counted is the time it is sent.
- A grant that ends up not sending anything (the parent was cancelled meanwhile) is refunded.
- A call that sends several requests (:attr:`RequestKind.MARGIN_READ`) counts each of them.
- A 429 that Kite sends anyway (another app on the same account) closes the lane for a second.

Time is the loop's ``time()``: virtual under :class:`~imperium_exec.clock.VirtualClock`, so a
benchmark of a six-hour schedule respects the same limits in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

_DAY_S = 86_400.0
_IST_OFFSET_S = 19_800.0  # IST is UTC+05:30, no daylight saving


class Lane(StrEnum):
    """Kite's three rate limits."""

    WRITE = "write"  # place, modify, cancel
    QUOTE = "quote"  # /quote, /quote/ltp, /quote/ohlc
    READ = "read"  # every other GET (orders, trades, margins, instruments)


class RequestKind(Enum):
    """What a request is for: its lane, its priority (lower goes first) and how many requests
    to the broker one call of it sends."""

    CANCEL = (Lane.WRITE, 0, 1)
    #: A resting order re-priced in place (Kite's modify): one write instead of a cancel and
    #: a placement, not an order of the day.
    MODIFY = (Lane.WRITE, 1, 1)
    PLACE = (Lane.WRITE, 2, 1)
    BOOK_READ = (Lane.READ, 3, 1)
    QUOTE = (Lane.QUOTE, 4, 1)
    #: A basket's margin pre-check: Kite's basket margins and the account's margins (two
    #: requests of the read lane, after the order book's reads).
    MARGIN_READ = (Lane.READ, 4, 2)
    DESK_READ = (Lane.READ, 5, 1)
    DESK_QUOTE = (Lane.QUOTE, 5, 1)

    @property
    def lane(self) -> Lane:
        return self.value[0]

    @property
    def priority(self) -> int:
        return self.value[1]

    @property
    def requests(self) -> int:
        """Requests one call sends: each counts against the lane's limits."""
        return self.value[2]

    @property
    def counts_per_day(self) -> bool:
        """Whether it is one of the day's order writes (a modification is not)."""
        return self.value[0] is Lane.WRITE and self is not RequestKind.MODIFY


@dataclass(frozen=True, slots=True)
class AccountRateLimits:
    """Requests allowed per account. ``None`` leaves that limit out (an in-process broker)."""

    writes_per_second: int | None = 10
    writes_per_minute: int | None = 400
    writes_per_day: int | None = 5_000
    quotes_per_second: int | None = 1
    reads_per_second: int | None = 10
    #: Added to every window: a margin for clock granularity (the windows already count each
    #: request until its reply, so network delays cannot crowd one of Kite's seconds).
    window_padding_s: float = 0.05
    #: How long a lane stays shut after the broker answered 429 anyway.
    throttle_pause_s: float = 1.0
    #: Writes of the day, and of every minute, that only cancels may use: the kill switch
    #: still gets its cancels out at once after placements filled the rest.
    cancel_reserve_per_day: int = 100
    cancel_reserve_per_minute: int = 40

    @classmethod
    def kite(cls) -> AccountRateLimits:
        """Kite Connect's limits (2026): 10/s, 400/min, 5,000/day writes; 1 quote/s; 10 GET/s."""
        return cls()

    @classmethod
    def unlimited(cls) -> AccountRateLimits:
        return cls(None, None, None, None, None)

    def windows(self, lane: Lane) -> tuple[tuple[float, int, int], ...]:
        """The (span in seconds, limit, kept for cancels) sliding windows of ``lane``,
        padding included."""
        pad = self.window_padding_s
        raw: list[tuple[float, int | None, int]]
        if lane is Lane.WRITE:
            raw = [(1.0, self.writes_per_second, 0),
                   (60.0, self.writes_per_minute, self.cancel_reserve_per_minute)]
        elif lane is Lane.QUOTE:
            raw = [(1.0, self.quotes_per_second, 0)]
        else:
            raw = [(1.0, self.reads_per_second, 0)]
        return tuple((span + pad, limit, min(reserve, limit - 1)) for span, limit, reserve in raw
                     if limit is not None)


class OrderLimitReached(Exception):
    """The day's order-write limit is used up: nothing more can be sent until midnight IST.

    The retry policy classifies it as fatal (as Kite's own "Maximum allowed order requests
    exceeded.")."""


#: How long past its end a request that got no answer still counts (an order write whose
#: outcome is unknown, a read that timed out: see the gateway): it may reach the broker after
#: this machine gave up on it (a busy server takes it from its queue late), which the
#: grant-to-end argument does not cover.
UNANSWERED_LINGER_S = 2.0


@dataclass(eq=False)
class _Grant:
    """One request let through: from its grant until it ended (``inf`` while in flight),
    and ``linger_s`` beyond for one that got no answer."""

    at: float
    end: float = math.inf
    linger_s: float = 0.0


class _Window:
    """The requests one sliding window of one lane still counts.

    A request counts from its grant until ``span_s`` after it *ended*, not after it was
    granted: Kite counts it when it arrives, which is somewhere in between, however long a
    busy machine took to send it. Then no calendar second at Kite can hold more than the
    limit: of the requests arriving in one second, the last one granted saw every other
    still counted (each ended after arriving, and arrived less than a second before it).
    """

    def __init__(self, span_s: float, limit: int, cancel_reserve: int = 0) -> None:
        self.span_s = span_s
        self.limit = limit
        self.cancel_reserve = cancel_reserve
        self.grants: list[_Grant] = []

    def earliest(self, now: float, kind: RequestKind) -> float:
        """When the next grant of ``kind`` fits (``now`` if it fits already; ``inf`` until a
        request in flight ends)."""
        cutoff = now - self.span_s
        if self.grants and min(g.end for g in self.grants) <= cutoff:
            self.grants = [g for g in self.grants if g.end > cutoff]
        limit = self.limit if kind is RequestKind.CANCEL else self.limit - self.cancel_reserve
        need = min(kind.requests, limit)  # a call of more requests than the limit waits for all
        excess = len(self.grants) + need - 1 - limit
        if excess < 0:
            return now
        return sorted(g.end for g in self.grants)[excess] + self.span_s

    def refund(self, grant: _Grant) -> None:
        """Forget a grant (every request it counted; nothing when it already aged out)."""
        self.grants = [g for g in self.grants if g is not grant]


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future[_Grant] = field(compare=False)
    kind: RequestKind = field(compare=False, default=RequestKind.PLACE)


class _LaneState:
    def __init__(self, lane: Lane, limits: AccountRateLimits) -> None:
        self.lane = lane
        self.windows = [_Window(span, limit, reserve)
                        for span, limit, reserve in limits.windows(lane)]
        self.waiters: list[_Waiter] = []
        self.closed_until = -math.inf
        self.day_limit = limits.writes_per_day if lane is Lane.WRITE else None
        self.day_index: int | None = None
        self.day_count = 0
        #: Of ``day_count``, the cancels: they use the day's cancel reserve first, so a
        #: cancel never takes a placement the day's budget had let a parent plan.
        self.day_cancels = 0

    def earliest(self, now: float, kind: RequestKind) -> float:
        return max([now, self.closed_until, *(w.earliest(now, kind) for w in self.windows)])


@dataclass
class Slot:
    """A granted request. Leave the ``async with`` block to release it; call :meth:`refund`
    first when the request was never sent."""

    kind: RequestKind
    grant: _Grant
    _budget: RateBudget
    refunded: bool = False
    #: The request running in a worker under this slot (see :meth:`RateBudget.slot`).
    held_by: asyncio.Future[Any] | None = None

    @property
    def granted_at(self) -> float:
        return self.grant.at

    def refund(self) -> None:
        if not self.refunded:
            self.refunded = True
            self._budget._refund(self)

    def unanswered(self) -> None:
        """The request got no answer (it may still arrive): it counts ``UNANSWERED_LINGER_S``
        past its end."""
        self.grant.linger_s = UNANSWERED_LINGER_S


class RateBudget:
    """The account's request budget. Create, use and close it on one asyncio loop."""

    def __init__(self, limits: AccountRateLimits | None = None, *, max_in_flight: int = 16,
                 wall_time: Callable[[], float] = time.time) -> None:
        self.limits = limits or AccountRateLimits.unlimited()
        self.max_in_flight = max_in_flight
        self._lanes = {lane: _LaneState(lane, self.limits) for lane in Lane}
        self._seq = itertools.count()
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        #: Grants per kind, for tests and benchmarks.
        self.granted: dict[RequestKind, int] = dict.fromkeys(RequestKind, 0)
        self._wall_time = wall_time  # epoch seconds, for the IST day of the daily limit

    # ------------------------------------------------------------------ public (loop thread)

    @asynccontextmanager
    async def slot(self, kind: RequestKind, *, seq: int | None = None) -> AsyncIterator[Slot]:
        """Wait (on the loop) until ``kind`` may go, then hold a slot while the block runs.

        ``seq`` keeps a waiter's place in line across a refund and a second try (lower is
        older); by default each call queues behind everything already waiting."""
        granted = await self._acquire(kind, next(self._seq) if seq is None else seq)
        try:
            yield granted
        finally:
            held = granted.held_by
            if held is not None and not held.done():
                # The caller was cancelled while its request runs in a worker: the slot stays
                # taken (and the request counted as in flight) until it really ends.
                held.add_done_callback(lambda _: self._release(granted.grant))
            else:
                self._release(granted.grant)

    def _release(self, grant: _Grant) -> None:
        grant.end = asyncio.get_running_loop().time() + grant.linger_s
        self._in_flight -= 1
        self._pump()

    def next_seq(self) -> int:
        """A place in line, for callers that may refund and try again (see :meth:`slot`)."""
        return next(self._seq)

    def note_throttled(self, lane: Lane) -> None:
        """The broker answered 429 although we kept to the limits: shut the lane briefly."""
        loop = asyncio.get_running_loop()
        lane_state = self._lanes[lane]
        lane_state.closed_until = max(lane_state.closed_until,
                                      loop.time() + self.limits.throttle_pause_s)
        self._pump()

    def waiting(self, lane: Lane | None = None) -> int:
        lanes = [self._lanes[lane]] if lane is not None else list(self._lanes.values())
        return sum(1 for s in lanes for w in s.waiters if not w.future.done())

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def count_earlier_writes(self, times: Iterable[float], *, day_writes: int | None = None,
                             ) -> None:
        """Order writes an earlier session of the account sent (a crashed desk's, read from
        its journal; epoch seconds): each counts in the write lane's windows until the span
        after it ends, as this session's own do, and today's count against the day's
        limit (``day_writes``: how many, when more than ``times`` hold). Loop thread."""
        lane = self._lanes[Lane.WRITE]
        now_loop, now_wall = asyncio.get_running_loop().time(), self._wall_time()
        self._roll_day(lane)
        day_start = (lane.day_index or 0) * _DAY_S - _IST_OFFSET_S
        stamps = sorted(times)
        today = sum(1 for at in stamps if at >= day_start)
        lane.day_count += max(today, day_writes or 0)
        longest = max((w.span_s for w in lane.windows), default=0.0)
        for at in stamps:
            if at < now_wall - longest:
                continue
            ended = now_loop - max(0.0, now_wall - at)
            grant = _Grant(ended, ended)
            for window in lane.windows:
                window.grants.append(grant)
        self._pump()

    def count_unseen_requests(self) -> None:
        """An earlier session of the account (a crashed desk's) left no row for its last
        requests: those in flight when it died, and all its reads and quotes. Each lane
        counts its per-second limit of them, as requests ending now: the earlier session
        died before this restart began (a new process: its start-up is the margin for a
        broker that takes them from its queue late), and a killed process sends nothing
        more. The restart's first burst then cannot land in a second they filled. (Not the
        gateway's ``UNANSWERED_LINGER_S``: two more seconds on every restart.) Loop
        thread."""
        now = asyncio.get_running_loop().time()
        for lane in self._lanes.values():
            if not lane.windows:
                continue
            unseen = min(window.limit for window in lane.windows)
            grant = _Grant(now, now)
            for window in lane.windows:
                window.grants.extend([grant] * unseen)
        self._pump()

    def writes_left_today(self) -> int | None:
        state = self._lanes[Lane.WRITE]
        if state.day_limit is None:
            return None
        self._roll_day(state)
        return state.day_limit - state.day_count

    def placements_left_today(self) -> int | None:
        """Placements the day still allows: the day's limit less its cancel reserve, less
        what was written today beyond what cancels took of that reserve; None without a day
        limit."""
        state = self._lanes[Lane.WRITE]
        left = self._day_left(state, RequestKind.PLACE)
        return None if left is None else max(0, left)

    # ------------------------------------------------------------------ granting

    async def _acquire(self, kind: RequestKind, seq: int) -> Slot:
        lane = self._lanes[kind.lane]
        self._check_day(lane, kind)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(kind.priority, seq, loop.create_future(), kind)
        heapq.heappush(lane.waiters, waiter)
        self._pump()
        try:
            grant = await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() \
                    and waiter.future.exception() is None:
                # Granted in the same turn the waiter was cancelled: give the slot back.
                self._in_flight -= 1
                self._refund_at(lane, waiter.future.result(), kind)
                self._pump()
            raise
        self.granted[kind] += 1
        return Slot(kind, grant, self)

    def _day_left(self, lane: _LaneState, kind: RequestKind) -> int | None:
        """Writes ``kind`` may still use today (placements leave the cancel reserve); None:
        no day limit for it."""
        if lane.day_limit is None or not kind.counts_per_day:
            return None
        self._roll_day(lane)
        if kind is RequestKind.CANCEL:
            return lane.day_limit - lane.day_count
        reserve = self.limits.cancel_reserve_per_day
        return lane.day_limit - reserve - (lane.day_count - min(lane.day_cancels, reserve))

    def _check_day(self, lane: _LaneState, kind: RequestKind) -> None:
        left = self._day_left(lane, kind)
        if left is not None and left <= 0:
            raise OrderLimitReached(_day_used_up(lane, kind))

    def _roll_day(self, lane: _LaneState) -> None:
        now = self._wall_time()
        day = math.floor((now + _IST_OFFSET_S) / _DAY_S)
        if lane.day_index != day:
            lane.day_index, lane.day_count, lane.day_cancels = day, 0, 0

    def _pump(self) -> None:
        """Grant every waiter that may go now, by lane and priority; time the next wake-up."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wake = math.inf
        for lane in self._lanes.values():  # waiters cancelled while waiting leave first
            while lane.waiters and lane.waiters[0].future.done():
                heapq.heappop(lane.waiters)
        # Lanes in the order of their best waiter's priority, so a free worker goes to the
        # most urgent request across lanes (a cancel before a quote).
        lanes = sorted(self._lanes.values(),
                       key=lambda s: s.waiters[0].priority if s.waiters else math.inf)
        for lane in lanes:
            while lane.waiters:
                head = lane.waiters[0]
                if head.future.done():  # cancelled while waiting
                    heapq.heappop(lane.waiters)
                    continue
                if self._in_flight >= self.max_in_flight:
                    break  # a release pumps again
                at = lane.earliest(now, head.kind)
                if at > now:
                    wake = min(wake, at)
                    break
                left = self._day_left(lane, head.kind)
                if left is not None:
                    if left <= 0:
                        heapq.heappop(lane.waiters)
                        head.future.set_exception(OrderLimitReached(
                            _day_used_up(lane, head.kind)))
                        continue
                    lane.day_count += 1
                    if head.kind is RequestKind.CANCEL:
                        lane.day_cancels += 1
                heapq.heappop(lane.waiters)
                grant = _Grant(now)
                for window in lane.windows:
                    window.grants.extend([grant] * head.kind.requests)
                self._in_flight += 1
                head.future.set_result(grant)
        self._arm(loop, wake)

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            if at == self._timer_at:
                return
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if not math.isinf(at):
            self._timer = loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._pump()

    def _refund(self, slot: Slot) -> None:
        lane = self._lanes[slot.kind.lane]
        self._refund_at(lane, slot.grant, slot.kind)
        self.granted[slot.kind] -= 1
        self._pump()

    @staticmethod
    def _refund_at(lane: _LaneState, grant: _Grant, kind: RequestKind) -> None:
        for window in lane.windows:
            window.refund(grant)
        if lane.day_limit is not None and kind.counts_per_day and lane.day_count > 0:
            lane.day_count -= 1
            if kind is RequestKind.CANCEL and lane.day_cancels > 0:
                lane.day_cancels -= 1


def _day_used_up(lane: _LaneState, kind: RequestKind) -> str:
    if kind is RequestKind.CANCEL:
        return (f"the day's limit of {lane.day_limit:,} order requests is used up; nothing "
                "can be sent before midnight IST")
    return (f"the day's limit of {lane.day_limit:,} order requests is used up (the last ones "
            "are kept for cancels); no order can be placed before midnight IST")


__all__ = ["AccountRateLimits", "Lane", "OrderLimitReached", "RateBudget", "RequestKind",
           "Slot"]
