"""Parent and child state as the engine keeps it, and the results handed back to callers.

Owned by the engine thread: nothing here is locked, so nothing outside the engine mutates it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ..algos.plan import ExecutionPlan
from ..events import ChildStatus, ErrorBucket, ParentStatus, QuoteSource
from ..events.ids import base36
from ..request import ExecutionRequest
from ..router import RouteDecision
from ..timeutil import ist_day_start
from .gateway import SendPermit


@dataclass
class ChildState:
    index: int  # 0-based across the parent
    slice_index: int
    quantity: int
    send_at: float
    attempt: int = 0
    tag: str | None = None
    order_id: str | None = None
    status: ChildStatus = ChildStatus.SCHEDULED
    filled: int = 0
    filled_value: float = 0.0
    decision: RouteDecision | None = None
    expected_slippage: float | None = None
    impact_estimate: float | None = None
    prior_impact: float | None = None
    expected_cost_bps: float | None = None
    mid_at_send: float | None = None
    #: Clock time the estimate was made (its rows' ``priced_at``).
    priced_at: float | None = None
    #: The underlying index's price when the child was priced (its rows' ``underlying_price``;
    #: a fill row's is the index when the fill was taken in).
    underlying_at_send: float | None = None
    #: The estimate's inputs, written with the child's rows (for refitting the model).
    participation: float | None = None
    horizon_s: float | None = None
    book_walk: float | None = None
    #: The market's traded volume in the quote the child was priced from, and when that quote
    #: was taken in the broker's session seconds (for fitting the volume curve).
    day_volume: int | None = None
    session_s: float | None = None
    latency_ms: float | None = None
    quote_source: QuoteSource | None = None  # where the price came from
    quote_age_ms: float | None = None  # how old that quote was when the child was priced
    placed_at: float | None = None  # clock time the broker accepted it
    #: The market data's quote count when the broker accepted it: a quote received later
    #: may already show what it took from the book.
    placed_seq: int | None = None
    in_flight: bool = False  # a placement request is on its way (outcome not yet known)
    released: bool = False  # its basket let it go out (it counts as out until it ends)
    cancel_requested: bool = False  # the broker accepted our cancel request
    cancel_abandoned: bool = False  # the cancel was never confirmed: stop waiting on it
    #: Modifications sent for its order (an ambiguous one counted: it may have been taken):
    #: the broker allows a few per order (Kite: 25).
    modifications: int = 0
    #: Why a re-price cancels it instead of modifying it (its cancelled row says so).
    replaced_because: str | None = None
    #: Left out of the parent's ``working`` while a slice is sized around it (a resting child
    #: that the slice re-prices counts as returned, as if cancelled).
    set_aside: bool = False

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    @property
    def average_price(self) -> float:
        return self.filled_value / self.filled if self.filled else 0.0


@dataclass(frozen=True, slots=True)
class ChildResult:
    index: int
    quantity: int
    filled_quantity: int
    average_price: float
    status: str
    order_id: str | None
    attempts: int
    tag: str | None = None  # the last attempt's tag (what to look for in the order book)


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    parent_id: str
    status: ParentStatus
    quantity: int
    filled_quantity: int
    unfilled_quantity: int
    average_price: float
    order_ids: tuple[str, ...]
    children: tuple[ChildResult, ...]
    message: str | None = None


class LegGate(Protocol):
    """The basket a leg belongs to, as its parent sees it (see ``baskets.runner``)."""

    basket_id: str
    changed: asyncio.Event

    async def wait_turn(self, parent: ParentState, child: ChildState) -> bool:
        """Wait until ``child`` may go out under the basket's rules; False: send nothing
        more (the basket stopped, or the leg no longer needs ``child``)."""
        ...

    def pulls_forward(self, parent: ParentState) -> bool:
        """Whether ``parent``'s next slice should go now (another leg waits for it)."""
        ...


@dataclass
class BasketLeg:
    """A parent's place in a basket."""

    gate: LegGate
    index: int  # the leg's position in the basket
    role: str  # LegRole value
    #: A hedge leg's children take liquidity this many ticks through the touch (see
    #: ``SmartOrderRouter.decide``); None for the other legs.
    pay_up_ticks: int | None = None


@dataclass
class ParentState:
    parent_id: str
    request: ExecutionRequest
    plan: ExecutionPlan
    arrival_price: float | None
    future: concurrent.futures.Future[ExecutionResult]
    children: list[ChildState] = field(default_factory=list)
    status: ParentStatus = ParentStatus.WORKING
    filled: int = 0
    filled_value: float = 0.0
    cancel_requested: bool = False
    failure: str | None = None
    paused_at: float | None = None
    shift_s: float = 0.0  # pause time added to the remaining schedule
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    last_volume: int | None = None  # cumulative market volume at the previous POV slice
    #: Revoked (from any thread) the moment the parent is cancelled: checked right before
    #: every placement request goes out.
    permit: SendPermit = field(default_factory=SendPermit)
    note: str | None = None  # why it ended short, for the finished row (not a failure)
    #: The bucket of ``failure`` when it has one (``risk``: refused by the margin check).
    failure_bucket: ErrorBucket | None = None
    #: Child numbers used so far: the rows' ``children``. The plan's count, raised only when a
    #: re-cut slice needs more children than it replaced; a child's number is never above it.
    child_numbers: int = 0
    basket: BasketLeg | None = None  # the basket this parent is a leg of
    fees: float = 0.0  # the fills' charges so far, rupees
    #: The quote key of the index under an option ("NSE:NIFTY 50"); None for anything else.
    underlying_key: str | None = None
    #: That index's price when the parent was accepted, if a quote was at hand then.
    underlying_price: float | None = None
    #: When its arrival price was taken (its accepted row), clock seconds; None before...
    arrived_at: float | None = None
    #: ...and how many of the desk's fills the engine had taken in by then: those are in the
    #: arrival price (``engine.desk_fills``).
    fills_before_arrival: int = 0
    #: Re-made at a restart from the journal and the order book (``engine.recovering``):
    #: held, it sends nothing; its fills found then are long past (no markouts).
    recovered: bool = False
    #: Why it is halted (the broker session was lost), or None: it sends nothing and waits,
    #: its orders as they were, for the trader (``resume_session``, then cancel or adopt).
    halted: str | None = None

    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def working(self) -> int:
        return sum(c.leaves for c in self.children
                   if c.status is ChildStatus.WORKING and not c.set_aside)

    @property
    def remaining(self) -> int:
        """Quantity neither filled nor working: not yet sent, or returned by ended children."""
        return self.quantity - self.filled - self.working

    @property
    def end_at(self) -> float:
        return self.plan.end_at + self.shift_s

    @property
    def average_price(self) -> float:
        return self.filled_value / self.filled if self.filled else 0.0

    @property
    def pay_up_ticks(self) -> int | None:
        """A basket's hedge leg: its children take liquidity, this many ticks through the
        touch (see ``SmartOrderRouter.decide``); None for any other parent."""
        return self.basket.pay_up_ticks if self.basket is not None else None

    def notify(self) -> None:
        """Something about this parent changed (a fill, a control): wake its waiters, and its
        basket's."""
        self.changed.set()
        if self.basket is not None:
            self.basket.gate.changed.set()

    @property
    def stopping(self) -> bool:
        """Cancelled, failed or halted: send nothing more."""
        return self.cancel_requested or self.failure is not None or self.halted is not None

    async def wait_changed(self, timeout: float | None) -> None:
        """Sleep until something about this parent changes (a fill, a control) or timeout."""
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)

    async def sleep(self, now: Callable[[], float], delay: float) -> None:
        """Sleep ``delay`` seconds unless the parent stops first."""
        deadline = now() + delay
        while not self.stopping and now() < deadline:
            await self.wait_changed(deadline - now())

    async def hold_while_paused(self) -> None:
        while self.paused_at is not None and not self.stopping:
            await self.wait_changed(None)


#: Every tag the engine sends: a parent id (10), the child's number (3) and its attempt (2),
#: upper-case letters and digits.
TAG_LENGTH = 15


def new_parent_id(now: float, rng: random.Random | None = None) -> str:
    """Ten characters of A-Z and 0-9: the time of day (IST, in centiseconds, five characters)
    then five random ones, from ``rng`` when given (tests and benchmarks seed it), else from
    the OS. The time keeps ids, and so tags, apart across restarts of the same day even when a
    restarted stack draws the same random characters (a seeded one does)."""
    alphabet = string.digits + string.ascii_uppercase
    centiseconds = int((now - ist_day_start(now)) * 100)
    if rng is not None:
        tail = "".join(rng.choice(alphabet) for _ in range(5))
    else:
        tail = "".join(alphabet[b % len(alphabet)] for b in os.urandom(5))
    return base36(centiseconds, 5) + tail


class ParentIds:
    """Issues parent (and basket) ids no parent of this engine, nor of the day's journal once
    recovery read it (:meth:`reserve`), has had. Any thread."""

    def __init__(self, now: Callable[[], float], seed: int | None = None) -> None:
        self._now = now
        self._rng = random.Random(seed) if seed is not None else None
        self._lock = threading.Lock()
        self._issued: set[str] = set()

    def new(self) -> str:
        with self._lock:
            while True:
                parent_id = new_parent_id(self._now(), self._rng)
                if parent_id not in self._issued:
                    self._issued.add(parent_id)
                    return parent_id

    def issued(self, parent_id: str) -> bool:
        with self._lock:
            return parent_id in self._issued

    def reserve(self, ids: Iterable[str]) -> None:
        """Ids used before (the day's journal): never issued again."""
        with self._lock:
            self._issued.update(ids)


@dataclass
class LateOrderWatch:
    """An attempt whose outcome was ambiguous and that was re-sent under a new tag: its order
    may still turn up. Watched by the engine (not the parent) so it outlives the parent."""

    tag: str
    parent: ParentState
    child: ChildState
    since: float
    attempt: int  # the attempt that used the tag (the child may have moved on since)
    order_id: str | None = None  # the late order's id, once it turned up
    seen: bool = False
    cancel_sent: bool = False
    counted: int = 0  # fills of the late order already reported
    counted_value: float = 0.0
    #: When the latest complete order-book read that did not show the tag began (None: no
    #: such read yet, or the order turned up): how long the tag has been looked for in vain.
    absent_at: float | None = None

